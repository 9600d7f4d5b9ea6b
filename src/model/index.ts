/**
 * The research model (`buildid-cache/model`): Viro's stolen-bit design and the two designs it
 * argued against, all over the same simulated kernel objects (inodes at slab addresses in the
 * direct map, `struct file`s that refer to them, executable mappings of those files), with what
 * each costs in bytes and how well slab addresses hash.
 *
 * - {@link StolenBitModel}: one spare bit of each inode's flags word plus a side hash keyed by
 *   inode address (a `BuildIdCache`); eviction with the bit clear does no hash work.
 * - {@link PointerPerFileModel}: PATCHv3, a build-ID pointer in every `struct file`.
 * - {@link PointerPerInodeModel}: RFC v2, a build-ID pointer and a spinlock in every `struct inode`.
 *
 * All three implement {@link BuildIdModel}, so one operation stream drives them side by side.
 * @module
 */
import "../default-core.js";

export type { BuildIdModel, ModelCounters, ModelOptions } from "./base.js";
export {
  type BreakEven,
  BUILD_ID_STRUCT_BYTES,
  breakEven,
  DESIGNS,
  type DesignCost,
  type DesignName,
  designCosts,
  FILE_POINTER_BYTES,
  INODE_FIELDS_BYTES,
  INODE_LOCK_BYTES,
  INODE_POINTER_BYTES,
  type Population,
  SIDE_BUCKET_BYTES,
  SIDE_BUCKET_SLOTS,
  SIDE_ENTRY_BYTES,
  STOLEN_BIT_INODE_BYTES,
  sideHashBytes,
  sideHashSlots,
} from "./costs.js";
export { type AnyModelOptions, createModel } from "./create.js";
export { ModelInvariantError, ModelStateError } from "./errors.js";
export {
  GOLDEN_RATIO_64,
  type HomeFunction,
  middleBitsHome,
  multiplicativeHome,
  probeLengths,
} from "./hash-quality.js";
export { PointerPerFileModel, PointerPerInodeModel } from "./rivals.js";
export { DIRECT_MAP_BASE, SLAB_PLACEMENTS, SlabCache, type SlabOptions, type SlabPlacement } from "./slab.js";
export {
  S_BUILD_ID,
  StolenBitModel,
  type StolenBitModelCounters,
  type StolenBitModelOptions,
} from "./stolen-bit.js";
