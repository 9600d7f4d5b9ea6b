export {
  BUILD_ID_MAX,
  BuildIdCache,
  type BuildIdCacheOptions,
  type BuildIdCacheStats,
  CacheDisposedError,
  MAX_CAPACITY,
} from "./cache.js";
export {
  type DecodedSnapshot,
  decodeSnapshot,
  SNAPSHOT_VERSION,
  SnapshotError,
  type SnapshotErrorCode,
} from "./snapshot.js";
export type { WasmSource } from "./wasm.js";
