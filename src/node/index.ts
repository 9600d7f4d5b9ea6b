/**
 * The Node entry (`buildid-cache/node`): everything in the universal entry, plus files, live
 * processes and pprof files on disk.
 * @module
 */
export * from "../index.js";

import { provideZstdEngine } from "../perf/splitter.js";
import { nativeZstdEngine } from "./zstd-native.js";

export { CacheFilePathError, CacheFileRefusedError, cacheFilePath, PathError } from "./cache-file.js";
export {
  type Census,
  type CensusOptions,
  type CensusProgress,
  type FileCounts,
  type KernelCounts,
  type MappingCounts,
  type ProcessCounts,
  ProcUnavailableError,
  type ProfilerPass,
  parseSlabinfo,
  type SlabinfoRow,
  takeCensus,
} from "./census.js";
export { formatCensus } from "./census-report.js";
export {
  CORE_MAPPING_BYTES,
  CORE_SEGMENT_BYTES,
  CoreFileError,
  type CoreFileErrorCode,
  type CoreLimits,
  type CoreModule,
  type CoreModuleStatus,
  type CoreReport,
  DEFAULT_CORE_LIMITS,
  type ReadCoreOptions,
  readCoreBuildIds,
} from "./core-file.js";
export * from "./debuginfod/index.js";
export { type ReadBuildIdFileOptions, readBuildIdFromFile, readBuildIdFromFileSync } from "./elf-file.js";
export {
  deviceOf,
  type FileIdentity,
  formatIdentity,
  identityKey,
  majorMinorOf,
  packIdentity,
  sameIdentity,
} from "./identity.js";
export {
  addToPerfStore,
  listPerfStore,
  PERF_BUILD_ID_MAX,
  type PerfStoreAdded,
  type PerfStoreAddOptions,
  type PerfStoreEntry,
  PerfStoreError,
  type PerfStoreErrorCode,
  type PerfStoreMethod,
  perfStoreDir,
} from "./perf-store.js";
export {
  annotateProfileFile,
  buildIdFinder,
  DEFAULT_PROFILE_LIMIT,
  type ProfileAnnotation,
  type ProfileLookupOptions,
  type ReadProfileOptions,
  readProfileFile,
  writeProfileFile,
} from "./pprof-file.js";
export { mappingFields, mapsEvents, ProcFeed, type ReadOutcome } from "./procfs/feed.js";
export {
  fileOffsetOf,
  findMapping,
  hasAmbiguousName,
  type Mapping,
  type MappingKind,
  MapsParseError,
  type MapsRead,
  mapFilesPath,
  mappingIdentity,
  parseMaps,
  parseMapsAfter,
  readMaps,
  readMapsTextSync,
} from "./procfs/maps.js";
export type { ProcessIdentity } from "./procfs/proc-stat.js";
export { type RecordedFileOptions, recordedFileReader, recordingStartMs } from "./recorded-files.js";
export type { FileResolution, FileVia, Resolution, ResolveFailure } from "./resolver/answers.js";
export {
  FileBuildIds,
  type FileBuildIdsOptions,
  type FileBuildIdsStats,
  type HeldEntry,
} from "./resolver/file-build-ids.js";
export { loadResolver, persistResolver, stampsPath } from "./resolver/persist.js";
export {
  BuildIdResolver,
  type BuildIdResolverOptions,
  type ResolverStats,
} from "./resolver/resolver.js";
export {
  ResolutionResults,
  type ResolvedPlace,
  ResolveStatus,
  type ResolveStatusCode,
  resolveFailure,
  resolveStatus,
} from "./resolver/results.js";
export { type Stamp, StampsFormatError } from "./resolver/stamps.js";
export { FileChangedError, FileTooLargeError, NotRegularFileError } from "./safe-open.js";
export {
  loadSnapshotFile,
  MAX_INTERVAL_MS,
  type PersistOptions,
  persist,
  saveSnapshotAtomic,
  saveSnapshotAtomicSync,
} from "./snapshot-file.js";

// The streaming perf reader decodes `-z` recordings with Node's own zstd where this Node has it.
provideZstdEngine(nativeZstdEngine);
