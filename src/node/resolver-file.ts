/**
 * A resolver kept on disk between runs: the cache's snapshot at PATH and the stamps that vouch
 * for its entries at PATH.stamps, each replaced atomically. The two files need not be saved at
 * the same instant: an entry survives a restore only when its stamp names its exact build ID.
 */

import { BuildIdResolver, type BuildIdResolverOptions } from "./resolver.js";
import { loadSnapshotFile, persist, saveSnapshotAtomic, saveSnapshotAtomicSync } from "./snapshot-file.js";

/** Where the stamps of the cache file `path` are kept. */
export function stampsPath(path: string): string {
  return `${path}.stamps`;
}

/**
 * A resolver started from the cache file at `path` when there is one, else an empty one.
 * @throws SnapshotError or StampsFormatError (from `src/node/resolver.ts`) when the files are corrupt.
 */
export async function loadResolver(
  path: string,
  options: Omit<BuildIdResolverOptions, "restore"> = {},
): Promise<BuildIdResolver> {
  const cache = await loadSnapshotFile(path);
  if (cache === undefined) return BuildIdResolver.create(options);
  const stamps = await loadSnapshotFile(stampsPath(path));
  return BuildIdResolver.create({ ...options, restore: { cache, stamps } });
}

/**
 * Keeps `resolver` saved at `path`: every `intervalMs` when given, at process exit, and when the
 * returned `stop` is called (which resolves after the final save).
 * @throws RangeError when `intervalMs` is not a positive integer.
 */
export function persistResolver(
  resolver: BuildIdResolver,
  path: string,
  options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
): () => Promise<void> {
  const onError = options.onError ?? ((error: unknown) => process.emitWarning(error as Error));
  const stopCache = persist(resolver.cache, path, options);
  const timer =
    options.intervalMs === undefined
      ? undefined
      : setInterval(
          () => saveSnapshotAtomic(stampsPath(path), resolver.exportStamps()).catch(onError),
          options.intervalMs,
        );
  timer?.unref();
  const onExit = (): void => {
    try {
      saveSnapshotAtomicSync(stampsPath(path), resolver.exportStamps());
    } catch (error) {
      onError(error);
    }
  };
  process.on("exit", onExit);
  return async () => {
    clearInterval(timer);
    process.off("exit", onExit);
    await stopCache();
    await saveSnapshotAtomic(stampsPath(path), resolver.exportStamps());
  };
}
