/**
 * A resolver kept on disk between runs: the cache's snapshot at PATH and the stamps that vouch
 * for its entries at PATH.stamps, saved together under PATH's lock by the one `persist` of
 * `snapshot-file.ts`. The two files need not be replaced at the same instant: an entry survives a
 * restore only when its stamp names its exact build ID.
 */

import { CacheFileRefusedError, cacheFileTarget, readCacheFileSync } from "../cache-file.js";
import { type PersistOptions, persistWith } from "../snapshot-file.js";
import { BuildIdResolver, type BuildIdResolverOptions } from "./resolver.js";
import { decodeStamps, encodeStamps, StampsFormatError } from "./stamps.js";

/** Where the stamps of the cache file `path` are kept: beside it, or beside its target when it is a symbolic link. */
export function stampsPath(path: string): string {
  return `${cacheFileTarget(path)}.stamps`;
}

/**
 * A resolver started from the cache file at `path` when there is one, else an empty one.
 * @throws CacheFileRefusedError naming the file when the snapshot or its stamps exist but cannot
 *   be read or understood (corrupt, another version, more entries than `options.capacity`, not a
 *   regular file, unreadable); its `cause` is the reason (a SnapshotError, StampsFormatError, …).
 */
export async function loadResolver(
  path: string,
  options: Omit<BuildIdResolverOptions, "restore"> = {},
): Promise<BuildIdResolver> {
  const read = (file: string) => {
    try {
      return readCacheFileSync(file);
    } catch (error) {
      throw new CacheFileRefusedError(file, error);
    }
  };
  // No lock: each file is replaced whole, and an entry whose stamp is not there yet is dropped.
  const cache = read(path);
  const stamps = read(stampsPath(path));
  if (cache === undefined) return BuildIdResolver.create(options);
  try {
    return await BuildIdResolver.create({ ...options, restore: { cache, stamps } });
  } catch (error) {
    throw new CacheFileRefusedError(error instanceof StampsFormatError ? stampsPath(path) : path, error);
  }
}

// Our stamps, plus the disk's for keys the merged snapshot took from the disk.
function mergeStamps(ours: Uint8Array, onDisk: Uint8Array | undefined, keys: Set<bigint>): Uint8Array {
  if (onDisk === undefined) return ours;
  const mine = decodeStamps(ours);
  const have = new Set(mine.map((s) => s.key));
  const added = decodeStamps(onDisk).filter((s) => !have.has(s.key) && keys.has(s.key));
  return added.length === 0 ? ours : encodeStamps([...mine, ...added]);
}

/**
 * Keeps `resolver` saved at `path` (and its stamps at {@link stampsPath}) as {@link persist} keeps
 * a cache: every `intervalMs` when given, at process exit, and when the returned `stop` is called,
 * each save merging what another process saved there meanwhile.
 * @throws RangeError when `intervalMs` is not an integer from 1 to {@link MAX_INTERVAL_MS}.
 */
export function persistResolver(
  resolver: BuildIdResolver,
  path: string,
  options: PersistOptions = {},
): () => Promise<void> {
  const stamps = {
    path: stampsPath(path),
    merge: (onDisk: Uint8Array | undefined, keys: Set<bigint>) => mergeStamps(resolver.exportStamps(), onDisk, keys),
  };
  return persistWith(resolver.cache, path, stamps, options);
}
