// Snapshot files that survive a crash at any moment: the new bytes go to a temporary file in the
// same folder, are flushed, and are renamed over the old file, so the path names either the old
// snapshot or the new one, never a torn mix.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { BuildIdCache } from "../cache.js";

let saves = 0;

// Unique per process and per save, so concurrent savers never share a temporary file.
function temporaryPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${saves++}.tmp`);
}

/** The bytes of the snapshot file at `path`, or `undefined` when there is none. */
export async function loadSnapshotFile(path: string): Promise<Uint8Array | undefined> {
  try {
    const file = await readFile(path);
    return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function syncDirectory(folder: string): Promise<void> {
  if (process.platform === "win32") return; // directories cannot be opened for fsync there
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces the file at `path` with `bytes` atomically and durably: write a temporary file in the
 * same folder, fsync it, rename it over `path`, fsync the folder. A crash leaves the old or the
 * new file (and perhaps a `.NAME.PID-N.tmp` file beside it, never read back).
 */
export async function saveSnapshotAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temporary = temporaryPath(path);
  try {
    const handle = await open(temporary, "wx", 0o644);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** {@link saveSnapshotAtomic} without awaiting, for `process.on("exit")`, where nothing async runs. */
export function saveSnapshotAtomicSync(path: string, bytes: Uint8Array): void {
  const temporary = temporaryPath(path);
  try {
    const fd = openSync(temporary, "wx", 0o644);
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {}
    throw error;
  }
  if (process.platform !== "win32") {
    const fd = openSync(dirname(path), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Options for {@link persist}. */
export interface PersistOptions {
  /** Also save every this many milliseconds; omit to save only at stop and exit. */
  intervalMs?: number;
  /** Receives errors of interval and exit saves (default: a process warning). */
  onError?: (error: unknown) => void;
}

/**
 * Keeps `cache` saved at `path`: every `intervalMs`, when the process exits, and when the returned
 * `stop` is called (which ends the interval and resolves after the final save). Signals end a Node
 * process without an exit event: call `stop` from their handlers.
 * @throws RangeError when `intervalMs` is not a positive integer.
 */
export function persist(cache: BuildIdCache, path: string, options: PersistOptions = {}): () => Promise<void> {
  const {
    intervalMs,
    onError = (error: unknown) => process.emitWarning(error instanceof Error ? error : String(error)),
  } = options;
  if (intervalMs !== undefined && (!Number.isSafeInteger(intervalMs) || intervalMs < 1)) {
    throw new RangeError(`intervalMs must be a positive integer, got ${String(intervalMs)}`);
  }
  let saving: Promise<void> | undefined;
  // One save at a time: an older snapshot must never rename over a newer one.
  const save = (): Promise<void> => {
    saving ??= (async () => saveSnapshotAtomic(path, cache.snapshot()))().finally(() => {
      saving = undefined;
    });
    return saving;
  };
  const timer = intervalMs === undefined ? undefined : setInterval(() => save().catch(onError), intervalMs);
  timer?.unref();
  const onExit = (): void => {
    try {
      saveSnapshotAtomicSync(path, cache.snapshot());
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
