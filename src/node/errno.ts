/**
 * What an errno from procfs or an open says about a process or a file, in one place for the
 * resolver and the census: gone (the process exited, the file was removed) or denied.
 *
 * @packageDocumentation
 */

/** The errno code of a Node error (`ENOENT`, …), or the error as text when it has none. */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? String(error);
}

/** The kernel refused: `EACCES`, `EPERM`. */
export function isDenied(code: string): boolean {
  return code === "EACCES" || code === "EPERM";
}

/** The process or file is no longer there: `ENOENT`, `ESRCH`. */
export function isGone(code: string): boolean {
  return code === "ENOENT" || code === "ESRCH";
}
