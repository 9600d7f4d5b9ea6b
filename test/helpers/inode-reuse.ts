import { chmodSync, closeSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
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
