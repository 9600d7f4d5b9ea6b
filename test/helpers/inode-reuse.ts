import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** A folder to make the files of an inode-reuse test in, what it is, and how to give it back. */
export interface ReuseFolder {
  /** The folder. */
  dir: string;
  /** What the folder is, for a skip reason: the fresh image, or the fallback's file system and why no image. */
  what: string;
  /** Unmounts the image and deletes it (a fallback has nothing to undo); safe to call twice. */
  remove(): void;
}

const run = (command: string, args: string[]): string | undefined => {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 120_000 });
  if (r.error) return `${command}: ${r.error.message}`;
  return r.status === 0 ? undefined : `${command} ${args.join(" ")}: ${(r.stderr || `exit ${r.status}`).trim()}`;
};

/**
 * A fresh 32 MiB ext4 image loop-mounted in `parent`, so that a freed inode number comes back to the next
 * file made: a file takes the lowest free number of the first group of its folder's flex group (ext4's
 * find_group_other and find_inode_bit; with a journal no "recently deleted" number is passed over), and
 * on a fresh image nothing else frees or takes one. Needs root, mkfs.ext4 and a loop device; without
 * them, `parent` itself, whose file system may or may not hand the number back ({@link copyOntoInode}).
 */
export function reuseFolder(parent: string): ReuseFolder {
  const image = join(parent, "reuse.ext4");
  const dir = join(parent, "reuse");
  const fallback = (why: string): ReuseFolder => {
    rmSync(image, { force: true });
    const fs = spawnSync("stat", ["-f", "-c", "%T", parent], { encoding: "utf8" }).stdout?.trim();
    return {
      dir: parent,
      what: `${parent} (${fs || "unknown file system"}; no fresh ext4 image: ${why})`,
      remove() {},
    };
  };
  if (process.getuid?.() !== 0) return fallback("not root, cannot mount one");
  const fd = openSync(image, "w");
  ftruncateSync(fd, 32 << 20);
  closeSync(fd);
  const failed = run("mkfs.ext4", ["-q", "-F", image]);
  if (failed) return fallback(failed);
  mkdirSync(dir);
  const refused = run("mount", ["-t", "ext4", "-o", "loop", image, dir]);
  if (refused) return fallback(refused);
  let mounted = true;
  return {
    dir,
    what: `${dir} (a fresh ext4 image)`,
    remove() {
      if (!mounted) return;
      // Lazily when busy: detached at once, the loop device freed when the last user goes.
      if (run("umount", [dir]) !== undefined) run("umount", ["-l", dir]);
      mounted = false;
      rmSync(image, { force: true });
    },
  };
}

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
