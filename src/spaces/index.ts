/**
 * Address spaces fed by events: every process's mappings over time, as the kernel's events
 * (perf's MMAP2, FORK, COMM, EXIT) or reads of `/proc/PID/maps` describe them, and which mapping
 * (with its file's identity and the file offset) held an address at a sample's time. Universal: no
 * Node built-ins.
 *
 * - {@link AddressSpaces}: the model; `apply(event)`, `lookup(pid, address, time?)`,
 *   `lookupMany(pid, addresses, out, time?)`.
 * - {@link SpaceEvent}: what it is fed; {@link FileRef}: how a mapping names its file.
 * - {@link LookupResults} and {@link LookupStatus}: batch answers written into typed arrays.
 *
 * @module
 */
export { SpaceEventError, type SpaceEventErrorCode } from "./errors.js";
export {
  type BuildIdFileRef,
  type CommEvent,
  type ExitEvent,
  type FileRef,
  type ForkEvent,
  type InodeFileRef,
  KERNEL_PID,
  type MapEvent,
  type MappingFields,
  type PseudoFileRef,
  type SnapshotEvent,
  type SpaceEvent,
  type UnknownFileRef,
  type UnmapEvent,
} from "./events.js";
export { fileKey, isAnonymousPath } from "./files.js";
export type { Mapping } from "./layout.js";
export {
  type Lookup,
  type LookupFailure,
  type LookupHit,
  type LookupMiss,
  LookupResults,
  LookupStatus,
  type LookupStatusCode,
  lookupFailure,
} from "./lookup.js";
export { AddressSpaces, type AddressSpacesOptions, type AddressSpacesStats } from "./model.js";
export type { AddressSpace, SpaceEnd } from "./space.js";
