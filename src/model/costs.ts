/**
 * Byte costs of the three kernel designs for caching ELF build IDs, as named constants and as
 * totals over a population of files, inodes and mappings. Each design charges a different object:
 *
 * | design              | per struct file | per inode in memory     | per cached ELF inode             | per executable mapping |
 * |---------------------|-----------------|-------------------------|----------------------------------|------------------------|
 * | `pointer-per-file`  | 8 B pointer     |                         |                                  | 24 B `struct build_id` |
 * | `pointer-per-inode` |                 | 16 B pointer + lock     | 24 B `struct build_id`           |                        |
 * | `stolen-bit`        |                 | 0 B (a spare flag bit)  | 29 B entry + 64 B per 15 slots   |                        |
 *
 * @module
 */
import { integer } from "../check.js";
import { BUCKET_SIZE, BUCKET_SLOTS, ENTRY_SIZE, slotCount } from "../layout.js";

/** PATCHv3 "mm/bpf/perf: Store build id in file object": `struct build_id *f_build_id` in every `struct file`. */
export const FILE_POINTER_BYTES = 8;

/** PATCHv3 and RFC v2: `struct build_id { u32 sz; char data[BUILD_ID_SIZE_MAX = 20]; }`, 24 B from its own kmem_cache. */
export const BUILD_ID_STRUCT_BYTES = 24;

/** RFC v2 "mm: Store build id in inode object": `struct build_id *i_build_id` in every `struct inode`. */
export const INODE_POINTER_BYTES = 8;

/** RFC v2: `spinlock_t i_build_id_lock` beside the pointer; a qspinlock is 4 B without lock debugging. */
export const INODE_LOCK_BYTES = 4;

/** RFC v2's two fields as `struct inode` lays them out: 8 + 4 B padded to the 8-B alignment of the next pointer (`i_private`). */
export const INODE_FIELDS_BYTES = Math.ceil((INODE_POINTER_BYTES + INODE_LOCK_BYTES) / 8) * 8;

/** Viro's design: the flag is a spare bit of the existing 32-bit `i_flags`, so an inode grows by nothing. */
export const STOLEN_BIT_INODE_BYTES = 0;

/** The side hash's entry record, the core's `ENTRY_SIZE` (src/layout.ts): key u64, id[20], a meta byte (length and reference bit). */
export const SIDE_ENTRY_BYTES = ENTRY_SIZE;

/** The side hash's bucket, the core's `BUCKET_SIZE` (src/layout.ts): one cache line of 15 tags and entry numbers. */
export const SIDE_BUCKET_BYTES = BUCKET_SIZE;

/** Slots per bucket of the side hash. */
export const SIDE_BUCKET_SLOTS = BUCKET_SLOTS;

/** Counts that decide what each design costs on one machine. */
export interface Population {
  /** `struct file` instances (open files across all processes). */
  files: number;
  /** Inodes in memory (the inode caches of every file system). */
  inodes: number;
  /** Distinct ELF inodes with a cached build ID. */
  elfInodes: number;
  /** Executable file mappings (vmas) across all processes. */
  executableMappings: number;
}

/** The three designs, in the order {@link designCosts} returns them. */
export const DESIGNS = ["pointer-per-file", "pointer-per-inode", "stolen-bit"] as const;

/** One of {@link DESIGNS}. */
export type DesignName = (typeof DESIGNS)[number];

/** What one design costs for a {@link Population}. */
export interface DesignCost {
  /** Which design. */
  design: DesignName;
  /** A short human name. */
  label: string;
  /** Bytes the design adds to the kernel for this population. */
  bytes: number;
  /** How the bytes are charged, e.g. `"8 B/file + 24 B/exec mapping"`. */
  perObject: string;
}

/**
 * Slots the core reserves for `entries` entries: whole buckets of 15, at most 7/8 full
 * (the core's own rule, from src/layout.ts).
 * @throws TypeError or RangeError when `entries` is not an integer >= 0.
 */
export function sideHashSlots(entries: number): number {
  return slotCount(integer("entries", entries, 0));
}

/**
 * Bytes of a side hash sized for `entries` entries: dense entries plus the buckets over them,
 * what `BuildIdCache.create({ capacity: entries })` reserves before its batch buffers. 0 for no entries.
 * @throws TypeError or RangeError when `entries` is not an integer >= 0.
 */
export function sideHashBytes(entries: number): number {
  if (integer("entries", entries, 0) === 0) return 0;
  return entries * SIDE_ENTRY_BYTES + (sideHashSlots(entries) / SIDE_BUCKET_SLOTS) * SIDE_BUCKET_BYTES;
}

function checkPopulation(p: Population): void {
  for (const name of ["files", "inodes", "elfInodes", "executableMappings"] as const) {
    integer(`population.${name}`, p?.[name], 0);
  }
  if (p.elfInodes > p.inodes) {
    throw new RangeError(`population.elfInodes (${p.elfInodes}) exceeds population.inodes (${p.inodes})`);
  }
}

// Each cost charges exactly the objects its design touches; the others are free to it.
const perFileBytes = (p: Population) => p.files * FILE_POINTER_BYTES + p.executableMappings * BUILD_ID_STRUCT_BYTES;
const perInodeBytes = (p: Population) => p.inodes * INODE_FIELDS_BYTES + p.elfInodes * BUILD_ID_STRUCT_BYTES;
const stolenBitBytes = (p: Population) => p.inodes * STOLEN_BIT_INODE_BYTES + sideHashBytes(p.elfInodes);

/**
 * Bytes each design adds for population `p`, one entry per design, always in the order
 * pointer-per-file, pointer-per-inode, stolen-bit.
 * @throws TypeError or RangeError naming the field when a count is not an integer >= 0, RangeError when `elfInodes > inodes`.
 */
export function designCosts(p: Population): DesignCost[] {
  checkPopulation(p);
  return [
    {
      design: "pointer-per-file",
      label: "pointer in every struct file (PATCHv3)",
      bytes: perFileBytes(p),
      perObject: `${FILE_POINTER_BYTES} B/file + ${BUILD_ID_STRUCT_BYTES} B/exec mapping`,
    },
    {
      design: "pointer-per-inode",
      label: "pointer + spinlock in every struct inode (RFC v2)",
      bytes: perInodeBytes(p),
      perObject: `${INODE_FIELDS_BYTES} B/inode + ${BUILD_ID_STRUCT_BYTES} B/ELF inode`,
    },
    {
      design: "stolen-bit",
      label: "stolen i_flags bit + side hash by inode address (Viro)",
      bytes: stolenBitBytes(p),
      perObject: `${STOLEN_BIT_INODE_BYTES} B/inode + ${SIDE_ENTRY_BYTES} B/entry + ${SIDE_BUCKET_BYTES} B/${SIDE_BUCKET_SLOTS} slots at load <= 7/8`,
    },
  ];
}

/** Where the stolen-bit design stops being the cheapest, for one population; see {@link breakEven}. */
export interface BreakEven {
  /** Fewest open files at which pointer-per-file costs at least as much as the stolen bit (other counts held). */
  files: number;
  /** Fewest cached ELF inodes at which the stolen bit costs at least as much as pointer-per-file; `null`: not up to `inodes`. */
  elfInodesVsPerFile: number | null;
  /** Fewest cached ELF inodes at which the stolen bit costs at least as much as pointer-per-inode; `null`: not up to `inodes`. */
  elfInodesVsPerInode: number | null;
}

// Smallest n in [0, limit] with stolen(n) >= rival(n), given that the difference only grows with n.
function firstCrossing(limit: number, stolen: (n: number) => number, rival: (n: number) => number): number | null {
  if (stolen(limit) < rival(limit)) return null;
  let lo = 0;
  let hi = limit;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (stolen(mid) >= rival(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Break-even points of the stolen-bit design against each rival for population `p`: how few
 * open files make the per-file pointer cheaper, and how many cached ELF inodes make the side
 * hash as dear as each rival. The side hash grows by 29 B per entry plus its buckets, faster
 * than the 24 B `struct build_id` a rival pays per ELF inode, so each search has one crossing.
 * @throws TypeError or RangeError as {@link designCosts} does.
 */
export function breakEven(p: Population): BreakEven {
  checkPopulation(p);
  const side = sideHashBytes(p.elfInodes);
  const mappings = p.executableMappings * BUILD_ID_STRUCT_BYTES;
  const withElf = (n: number): Population => ({ ...p, elfInodes: n });
  return {
    files: Math.max(0, Math.ceil((side - mappings) / FILE_POINTER_BYTES)),
    elfInodesVsPerFile: firstCrossing(p.inodes, sideHashBytes, () => perFileBytes(p)),
    elfInodesVsPerInode: firstCrossing(p.inodes, sideHashBytes, (n) => perInodeBytes(withElf(n))),
  };
}
