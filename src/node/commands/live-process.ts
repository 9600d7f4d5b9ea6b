/**
 * The check `resolve` and `annotate --pid` make before reading a process: procfs is there, and so
 * is the process.
 *
 * @packageDocumentation
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { listPids } from "../census.js";

/** A process that does not exist (or no longer does) in the procfs read. */
export class NoSuchProcessError extends Error {
  /** Always "NoSuchProcessError", so the error can be told apart after serialisation. */
  override name = "NoSuchProcessError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ESRCH";
  /**
   * @param pid The process asked for.
   * @param detail Why it is taken not to exist: the failed look, with its path.
   */
  constructor(
    readonly pid: number,
    detail: string,
  ) {
    super(`no process ${pid} (${detail})`);
  }
}

/**
 * Checks that procfs is at `procRoot` and that process `pid` is in it.
 * @throws ProcUnavailableError when there is no procfs at `procRoot`, NoSuchProcessError when `pid`
 *   is not there.
 */
export async function requireProcess(procRoot: string, pid: number): Promise<void> {
  await listPids(procRoot);
  const dir = join(procRoot, String(pid));
  try {
    await stat(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw error;
    throw new NoSuchProcessError(pid, `${dir}: ${code}`);
  }
}
