/**
 * Build ID to file: the reverse index, a debuginfod server over it, and a debuginfod client that
 * shares elfutils' cache.
 * @module
 */
export type { Artifact } from "./artifact.js";
export {
  BuildIdIndex,
  type BuildIdIndexOptions,
  DEFAULT_ROOTS,
  DEFAULT_WRITE_BATCH,
  type GroomStats,
  type IndexedFile,
  IndexReadOnlyError,
  MAX_SCAN_THREADS,
  type Scanners,
  type ScanOptions,
  type ScanProgress,
  type ScanStats,
} from "./build-id-index.js";
export {
  ArtifactNotFoundError,
  buildIdOf,
  CacheWriteError,
  CLIENT_ARTIFACTS,
  type ClientArtifact,
  cacheEntryPath,
  checkFindArguments,
  DEFAULT_MAX_TIME_S,
  debuginfodCachePath,
  type FindOptions,
  type FoundArtifact,
  findArtifact,
} from "./client.js";
export {
  DEFAULT_DWARF_LIMITS,
  DwarfError,
  type DwarfErrorCode,
  type DwarfLimits,
} from "./dwarf-lines.js";
export { IndexDatabaseError, type IndexDatabaseErrorCode, SCHEMA_VERSION } from "./index-db.js";
export { IndexFileError, type IndexFileErrorCode } from "./index-file.js";
export { ScanWorkerError } from "./scan-pool.js";
export { type DebuginfodServer, type ServeOptions, type ServerMetrics, serveDebuginfod } from "./server.js";
export { canonicalSourcePath, SourceRequestError } from "./sources.js";
export {
  FORWARDED_TTL_LIMIT,
  UPSTREAM_BUCKETS_S,
  UPSTREAM_CONCURRENCY,
  type UpstreamMetrics,
  type UpstreamOptions,
} from "./upstream.js";
