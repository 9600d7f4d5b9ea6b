// The shared build's entry: the core of assembly/index.ts over an imported shared memory, plus
// what other threads need to attach to a table and read it (the shared-mode section there).
export * from "./index";

/** attachWriter(): another thread holds the table as its writer. */
export const ERR_WRITER: i32 = SHARED_ERR_WRITER;

/** Address of the table's header, which a handle carries to other threads. */
export function headerAddress(): usize { return sharedHeader(); }

/** Attaches this instance to the table at `header` as a reader. Returns OK, ERR_CAPACITY or ERR_NO_MEMORY. */
export function attach(header: usize): i32 { return sharedAttach(header); }

/** Attaches this instance as the table's writer; ERR_WRITER while another thread holds it. */
export function attachWriter(header: usize): i32 { return sharedAttachWriter(header); }

/** Gives up the writer's claim on the table. */
export function release(): void { sharedRelease(); }

/** Live entries, as the writer last published them. */
export function sharedSize(): u32 { return sharedCount(); }

/** A reader's lookup(): 0 for a miss, a contended read included. */
export function readLookup(key: u64, dst: usize): u32 { return sharedLookup(key, dst); }

/** A reader's contains(). */
export function readContains(key: u64): bool { return sharedContains(key); }

/** A reader's lookupMany(). Returns hits. */
export function readMany(n: u32): u32 { return sharedLookupMany(n); }

/** Reads this instance reported as misses because the writer changed the table meanwhile. */
export function contendedMisses(): u64 { return sharedContended; }

/** readLookup() as three steps, for the test that interleaves them with writes: the epoch. */
export function readBegin(): u64 { return sharedReadBegin(); }

/** The middle step: a probe with no check, whose answer counts only if readEnd() agrees. */
export function readProbe(key: u64, dst: usize): u32 { return sharedReadProbe(key, dst); }

/** The last step: whether the table did not change since readBegin() returned `begun`. */
export function readEnd(begun: u64): bool { return sharedReadEnd(begun); }
