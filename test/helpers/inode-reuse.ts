import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Files made (and kept aside) at a path before giving up on the file system reusing an inode number. */
export const REUSE_TRIES = Number(process.env.BIC_REUSE_TRIES ?? 2000);

/**
 * Makes a file at `path` until it gets inode `ino`, then writes `from`'s bytes into it (mode 755);
 * the files made, or 0 when {@link REUSE_TRIES} did not. ext4 hands out the lowest free inode of the
 * folder's group, so each miss is kept (renamed into `aside`) to let the next file reach the next
 * free number; tmpfs counts up and never reuses one.
 */
export function copyOntoInode(from: string, path: string, ino: bigint, aside: string): number {
  for (let i = 0; i < REUSE_TRIES; i++) {
    closeSync(openSync(path, "wx"));
    if (statSync(path, { bigint: true }).ino === ino) {
      writeFileSync(path, readFileSync(from));
      chmodSync(path, 0o755);
      return i + 1;
    }
    renameSync(path, join(aside, `held-${i}`));
  }
  return 0;
}

/** Removes the file at `path` and puts `from`'s bytes there on its inode number: the number, and {@link copyOntoInode}'s count. */
export function replaceOnItsInode(from: string, path: string, aside: string): { ino: bigint; made: number } {
  const { ino } = statSync(path, { bigint: true });
  unlinkSync(path);
  return { ino, made: copyOntoInode(from, path, ino, aside) };
}

const BUSY = `
#include <stdlib.h>
int main(int argc, char **argv) {
  volatile long s = 0;
  for (long i = 0; i < atol(argv[1]); i++) s += i * VARIANT;
  return 0;
}
`;

/** Compiles two programs in `dir` that busy-loop `argv[1]` times, alike but for their build IDs. */
export function compileTwoPrograms(dir: string, prog: string, other: string): void {
  writeFileSync(join(dir, "busy.c"), BUSY);
  execFileSync("gcc", ["-O1", "-DVARIANT=3", "-o", prog, "busy.c"], { cwd: dir });
  execFileSync("gcc", ["-O1", "-DVARIANT=5", "-o", other, "busy.c"], { cwd: dir });
}

/** The build ID GNU readelf prints for `path` now. */
export const readelfBuildId = (path: string): string | undefined =>
  /Build ID: ([0-9a-f]+)/.exec(execFileSync("readelf", ["-n", path], { encoding: "utf8" }))?.[1];
