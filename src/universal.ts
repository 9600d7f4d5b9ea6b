/**
 * The universal API, shared by the main entry (which loads the core from `build/`) and the inline
 * entry (which embeds it). Not an entry itself.
 * @module
 */
export {
  BUILD_ID_MAX,
  BuildIdCache,
  type BuildIdCacheOptions,
  type BuildIdCacheStats,
  CacheDisposedError,
  MAX_CAPACITY,
  SetManyError,
  WriterClaimedError,
} from "./cache.js";
export {
  type BuildIdInfo,
  type BuildIdSteps,
  DEFAULT_ELF_LIMITS,
  type ElfChunk,
  ElfError,
  type ElfErrorCode,
  type ElfLimits,
  type ElfRange,
  hasElfMagic,
  parseBuildId,
  type ReadBuildIdOptions,
  readBuildId,
} from "./elf.js";
export { formatBytes } from "./format.js";
export {
  type Annotation,
  annotateProfile,
  type BuildIdAnswer,
  type FilledMapping,
  type FindBuildId,
  isGzip,
  ProfileFormatError,
  type ProfileMapping,
  type SkippedMapping,
} from "./pprof.js";
export type { SharedCacheHandle } from "./shared-handle.js";
export {
  type DecodedSnapshot,
  decodeSnapshot,
  SNAPSHOT_ENTRY_SIZE,
  SNAPSHOT_VERSION,
  SnapshotError,
  type SnapshotErrorCode,
} from "./snapshot.js";
export type { WasmSource } from "./wasm.js";
