// Snapshot files that survive a crash at any moment and a second writer: each save takes the
// file's lock, reads what is there, merges it with the cache (the cache wins on a shared key),
// and replaces the file atomically (`cache-file.ts`). A file that exists but cannot be read or
// understood is never replaced unless the caller asks (`reset`).
import type { BuildIdCache } from "../cache.js";
import { integer } from "../check.js";
import { MAX_CAPACITY } from "../layout.js";
import { decodeSnapshot, encodeSnapshot, RECORD_KEY_OFFSET, SNAPSHOT_ENTRY_SIZE, SnapshotError } from "../snapshot.js";
import {
  CacheFileRefusedError,
  lockCacheFile,
  readCacheFileSync,
  replaceFile,
  replaceFileSync,
  runAsync,
  runSync,
  type Steps,
} from "./cache-file.js";

/**
 * The bytes of the snapshot file at `path`, or `undefined` when there is none.
 * @throws NotRegularFileError for anything but a regular file (nothing is read from it),
 *   PathError naming the path for any other I/O error.
 */
export async function loadSnapshotFile(path: string): Promise<Uint8Array | undefined> {
  return readCacheFileSync(path);
}

/**
 * Replaces the file at `path` (a symbolic link's target) with `bytes` atomically and durably,
 * keeping its mode and owner. Takes no lock and merges nothing; {@link persist} does both.
 */
export async function saveSnapshotAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await runAsync(replaceFile(path, bytes));
}

/** {@link saveSnapshotAtomic} without awaiting, for `process.on("exit")`, where nothing async runs. */
export function saveSnapshotAtomicSync(path: string, bytes: Uint8Array): void {
  replaceFileSync(path, bytes);
}

/** The longest {@link PersistOptions.intervalMs}: timers turn anything longer into 1 ms. */
export const MAX_INTERVAL_MS = 2 ** 31 - 1;

/** Options for {@link persist}. */
export interface PersistOptions {
  /** Also save every this many milliseconds (1 to {@link MAX_INTERVAL_MS}); omit to save only at stop and exit. */
  intervalMs?: number;
  /** Receives errors of interval and exit saves (default: a process warning). */
  onError?: (error: unknown) => void;
  /** Replace a file that exists but cannot be read or understood, instead of refusing to save. */
  reset?: boolean;
}

/** The snapshot `ours` with the entries of `onDisk` whose keys it lacks, as far as its capacity allows. */
export function mergeSnapshots(
  ours: Uint8Array,
  onDisk: Uint8Array | undefined,
): { bytes: Uint8Array; keys: Set<bigint> } {
  const mine = decodeSnapshot(ours, MAX_CAPACITY);
  const keys = new Set<bigint>();
  const keyAt = (records: Uint8Array, i: number) =>
    new DataView(records.buffer, records.byteOffset + i * SNAPSHOT_ENTRY_SIZE + RECORD_KEY_OFFSET, 8).getBigUint64(
      0,
      true,
    );
  for (let i = 0; i < mine.count; i++) keys.add(keyAt(mine.records, i));
  if (onDisk === undefined) return { bytes: ours, keys };
  const theirs = decodeSnapshot(onDisk, MAX_CAPACITY);
  const added: number[] = [];
  const seen = new Set<bigint>();
  for (let i = 0; i < theirs.count; i++) {
    const key = keyAt(theirs.records, i);
    if (seen.has(key)) throw new SnapshotError("DUPLICATE_KEY", `entry ${i} repeats key 0x${key.toString(16)}`);
    seen.add(key);
    if (!keys.has(key) && mine.count + added.length < mine.capacity) added.push(i);
  }
  if (added.length === 0) return { bytes: ours, keys };
  const records = new Uint8Array((mine.count + added.length) * SNAPSHOT_ENTRY_SIZE);
  records.set(mine.records);
  added.forEach((i, n) => {
    const at = i * SNAPSHOT_ENTRY_SIZE;
    records.set(theirs.records.subarray(at, at + SNAPSHOT_ENTRY_SIZE), (mine.count + n) * SNAPSHOT_ENTRY_SIZE);
    keys.add(keyAt(theirs.records, i));
  });
  return { bytes: encodeSnapshot(mine.capacity, records), keys };
}

/**
 * A file saved beside the snapshot (a resolver's stamps), merged with the copy on disk.
 * @internal Used by `resolver-file.ts`.
 */
export interface CompanionFile {
  /** Where it is kept. */
  path: string;
  /** This process's bytes merged with `onDisk`, for the entries whose keys are in `keys`. */
  merge(onDisk: Uint8Array | undefined, keys: Set<bigint>): Uint8Array;
}

// The file's bytes for merging: what is there, or nothing when `reset` lets an unusable file go.
function onDisk<T>(path: string, reset: boolean, use: (bytes: Uint8Array | undefined) => T): T {
  let bytes: Uint8Array | undefined;
  try {
    bytes = readCacheFileSync(path);
    return use(bytes);
  } catch (error) {
    if (!reset || (error as { code?: string }).code === "ENOTREG") throw new CacheFileRefusedError(path, error);
    return use(undefined);
  }
}

/**
 * One save of `cache` (and `companion`) at `path`: lock, read, merge, replace, unlock.
 * @internal Used by {@link persist} and `persistResolver`, driven by `runSync` or `runAsync`.
 */
export function* saveMerged(cache: BuildIdCache, path: string, companion?: CompanionFile, reset = false): Steps<void> {
  const release = yield* lockCacheFile(path);
  try {
    const { bytes, keys } = onDisk(path, reset, (disk) => mergeSnapshots(cache.snapshot(), disk));
    const extra = companion && onDisk(companion.path, reset, (disk) => companion.merge(disk, keys));
    yield* replaceFile(path, bytes);
    if (companion && extra) yield* replaceFile(companion.path, extra);
  } finally {
    release();
  }
}

/**
 * Keeps `cache` saved at `path`: every `intervalMs`, when the process exits, and when the returned
 * `stop` is called (which ends the interval and resolves after the final save). Each save merges
 * what another process saved there meanwhile. Signals end a Node process without an exit event:
 * call `stop` from their handlers.
 * @throws RangeError when `intervalMs` is not an integer from 1 to {@link MAX_INTERVAL_MS}.
 */
export function persist(cache: BuildIdCache, path: string, options: PersistOptions = {}): () => Promise<void> {
  return persistWith(cache, path, undefined, options);
}

/**
 * {@link persist} with a companion file saved beside the snapshot.
 * @internal Used by `persistResolver`.
 */
export function persistWith(
  cache: BuildIdCache,
  path: string,
  companion: CompanionFile | undefined,
  options: PersistOptions,
): () => Promise<void> {
  const {
    intervalMs,
    onError = (error: unknown) => process.emitWarning(error instanceof Error ? error : String(error)),
    reset = false,
  } = options;
  if (intervalMs !== undefined) integer("intervalMs", intervalMs, 1, MAX_INTERVAL_MS);
  let first = true;
  // `reset` applies until a save succeeds.
  const steps = () => saveMerged(cache, path, companion, reset && first);
  const saved = () => {
    first = false;
  };
  let saving: Promise<void> | undefined;
  // One save at a time: an older snapshot must never rename over a newer one.
  const save = (): Promise<void> => {
    saving ??= runAsync(steps())
      .then(saved)
      .finally(() => {
        saving = undefined;
      });
    return saving;
  };
  const timer = intervalMs === undefined ? undefined : setInterval(() => save().catch(onError), intervalMs);
  timer?.unref();
  const onExit = (): void => {
    try {
      runSync(steps());
    } catch (error) {
      onError(error);
    }
  };
  process.on("exit", onExit);
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      clearInterval(timer);
      process.off("exit", onExit);
      await saving?.catch(() => {});
      await save();
    })();
    return stopped;
  };
}
