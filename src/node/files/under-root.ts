/**
 * Opening paths under a root without ever leaving it (design invariant 8): the one way the reverse
 * index walks its roots and the one way it, and the server, open a file under them.
 *
 * Node has no `openat(2)`, so every step opens `/proc/self/fd/DIRFD/NAME` with `O_NOFOLLOW`. The
 * kernel resolves the magic link `/proc/self/fd/DIRFD` to the directory that descriptor holds (the
 * inode itself, not a path looked up again by name), looks up the one component `NAME` in it, and
 * refuses it if it is a symbolic link (`ELOOP`; `ENOTDIR` with `O_DIRECTORY`). A path is opened
 * from the root's descriptor one component at a time, each relative to the descriptor of the one
 * before, and `..` is refused, so no component is ever resolved by name from above the one held.
 *
 * Why this is race-free: whatever is renamed, replaced or swapped for a link before, during or
 * after a walk, each step opens the entry its held directory has under that name at that instant
 * (an entry inside the root) or fails. Nothing outside the root is opened, not even for a moment:
 * a check after the open (reading the handle's path back) would first have opened what a link
 * pointed at, and opening a device can act on it. A directory moved out of the root while its
 * descriptor is held is still read through it; only what its mover could have put in the root.
 *
 * Symbolic links under a root are not followed at all, wherever they are: one on the way or at the
 * end fails with {@link SymlinkRefusedError}. Hard links and mount points are the file system's own
 * entries and are opened as any other (making either takes rights over the file or the mount table).
 * The root's own path is the caller's: resolved by name once, when it is opened, its last component
 * not through a link.
 *
 * @packageDocumentation
 */
import {
  type BigIntStats,
  closeSync,
  constants,
  type Dirent,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  statfsSync,
} from "node:fs";
import { join } from "node:path";
import { checkOpenedSync, type OpenRegularOptions, READ_FLAGS } from "../safe-open.js";

const PROC_FD = "/proc/self/fd/";
/** `statfs` type of procfs (`linux/magic.h`). */
const PROC_SUPER_MAGIC = 0x9fa0;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** A path under a root that reaches a symbolic link, at its end or on the way: links are not followed under a root. */
export class SymlinkRefusedError extends Error {
  /** Always "SymlinkRefusedError", so the error can be told apart after serialisation. */
  override name = "SymlinkRefusedError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ESYMLINK";
  /**
   * @param path The whole path asked for.
   * @param link The part of it, from the root, that is a symbolic link.
   */
  constructor(
    readonly path: string,
    readonly link: string,
  ) {
    super(`${path}: ${link} is a symbolic link, not followed under a root`);
  }
}

/** A path that is not under the root it was asked under (absolute, or with an empty, `.` or `..` component), or under none of a server's roots. */
export class NotUnderRootError extends Error {
  /** Always "NotUnderRootError", so the error can be told apart after serialisation. */
  override name = "NotUnderRootError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ENOTUNDER";
  /**
   * @param path The path as given.
   * @param roots The roots it is not under.
   */
  constructor(
    readonly path: string,
    readonly roots: readonly string[],
  ) {
    super(
      `${JSON.stringify(path)} is not a path under ${roots.length === 1 ? "the root" : "any root of"} ${roots.join(", ")}`,
    );
  }
}

/** No procfs at `/proc`, which opening under a root needs (its `/proc/self/fd` links stand in for `openat`). */
export class ProcfsMissingError extends Error {
  /** Always "ProcfsMissingError", so the error can be told apart after serialisation. */
  override name = "ProcfsMissingError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ENOPROCFS";
  /** @param found What `/proc/self/fd` is instead. */
  constructor(readonly found: string) {
    super(`opening under a root needs procfs mounted at /proc, but /proc/self/fd ${found}`);
  }
}

let procfsChecked = false;

function checkProcfs(): void {
  if (procfsChecked) return;
  let type: number;
  try {
    type = Number(statfsSync(PROC_FD).type);
  } catch (error) {
    throw new ProcfsMissingError(`cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  if (type !== PROC_SUPER_MAGIC) throw new ProcfsMissingError(`is on a file system of type 0x${type.toString(16)}`);
  procfsChecked = true;
}

/** One component of a path under a root: a name in a directory, never empty, `.` or `..`, and without a slash. */
function isName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/");
}

// A Node error about /proc/self/fd/N/NAME, made to name the path the caller knows.
function renamed(error: unknown, path: string): unknown {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.path === "string" && e.path.startsWith(PROC_FD)) {
    e.message = e.message.replace(e.path, path);
    e.path = path;
  }
  return error;
}

/**
 * Opens `name` in the directory whose `/proc/self/fd/N/` is `dir`, with `flags | O_NOFOLLOW`: the
 * only open under a root. In errors, `root` and `whole` (names from the root) name the path asked
 * for, and its first `depth` names the one opened.
 */
function openAt(
  dir: string,
  name: string,
  flags: number,
  root: string,
  whole: readonly string[],
  depth: number,
): number {
  try {
    return openSync(dir + name, flags | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const path = join(root, ...whole);
    // Only to name the refusal: the open itself already failed, whatever the entry is now.
    if ((code === "ELOOP" || code === "ENOTDIR") && lstatSync(dir + name, { throwIfNoEntry: false })?.isSymbolicLink())
      throw new SymlinkRefusedError(path, whole.slice(0, depth).join("/"));
    throw renamed(error, join(root, ...whole.slice(0, depth)));
  }
}

/**
 * A root directory held open, and the directories under it opened from it one component at a
 * time, never through a symbolic link. It holds the directories along the path last asked for, so
 * a walk in depth-first order opens each directory once.
 */
export class RootDir {
  /** The root's path as opened. */
  readonly path: string;
  /** `fstat` of the root's descriptor. */
  readonly stat: BigIntStats;
  #fd: number;
  #names: string[] = [];
  #fds: number[] = [];
  /** `/proc/self/fd/N/` of the directory held last. */
  #at: string;

  private constructor(path: string, fd: number, stat: BigIntStats) {
    this.path = path;
    this.#fd = fd;
    this.stat = stat;
    this.#at = `${PROC_FD}${fd}/`;
  }

  /**
   * Opens the directory at `path` as a root. Give its real path (`realpath`): its last component
   * is opened without following a link, the ones before it by name.
   * @throws {@link ProcfsMissingError} without procfs; {@link SymlinkRefusedError} when `path` is
   *   a symbolic link; Node's errors (`ENOENT`, `ENOTDIR`, …) when it is no directory.
   */
  static openSync(path: string): RootDir {
    checkProcfs();
    let fd: number;
    try {
      fd = openSync(path, DIR_FLAGS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === "ELOOP" || code === "ENOTDIR") && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink())
        throw new SymlinkRefusedError(path, path);
      throw error;
    }
    return new RootDir(path, fd, fstatSync(fd, { bigint: true }));
  }

  /**
   * The root whose descriptor `fd` this process holds (another thread's {@link RootDir.descriptor}),
   * opened again through `/proc/self/fd/FD/.`: the directory that descriptor holds, not a path looked
   * up by name, so a thread of its own walks the very root the scan opened. `fd` must stay open
   * until this returns; the new root owns its own descriptor.
   * @throws {@link ProcfsMissingError} without procfs; Node's errors when `fd` is no directory;
   *   Error when it holds another directory than `expected` (device and inode).
   */
  static reopenSync(path: string, fd: number, expected: { dev: bigint; ino: bigint }): RootDir {
    checkProcfs();
    const own = openSync(`${PROC_FD}${fd}/.`, DIR_FLAGS);
    const stat = fstatSync(own, { bigint: true });
    if (stat.dev !== expected.dev || stat.ino !== expected.ino) {
      closeSync(own);
      throw new Error(`${path}: descriptor ${fd} holds another directory than the root opened`);
    }
    return new RootDir(path, own, stat);
  }

  /** The root's own descriptor, for {@link RootDir.reopenSync} in another thread while this one stays open. @internal */
  get descriptor(): number {
    return this.#fd;
  }

  /**
   * Holds the directory `names` (components from the root; `[]` is the root) and returns its
   * `/proc/self/fd/N/`, opening the components that differ from the directory held before and
   * closing the rest.
   * @throws {@link SymlinkRefusedError} when a component is a symbolic link, {@link NotUnderRootError}
   *   for a component that is no name, Node's errors (`ENOENT`, `ENOTDIR`, …) otherwise.
   */
  #hold(names: readonly string[], whole: readonly string[] = names): string {
    const held = this.#names;
    const fds = this.#fds;
    let keep = 0;
    while (keep < held.length && keep < names.length && held[keep] === names[keep]) keep++;
    if (keep === held.length && keep === names.length) return this.#at;
    while (fds.length > keep) {
      closeSync(fds.pop()!);
      held.pop();
    }
    this.#at = `${PROC_FD}${keep === 0 ? this.#fd : fds[keep - 1]}/`;
    for (let i = keep; i < names.length; i++) {
      const name = names[i]!;
      if (!isName(name)) throw new NotUnderRootError(whole.join("/"), [this.path]);
      const fd = openAt(this.#at, name, DIR_FLAGS, this.path, whole, i + 1);
      fds.push(fd);
      held.push(name);
      this.#at = `${PROC_FD}${fd}/`;
    }
    return this.#at;
  }

  /** `fstat` of the directory `names` (components from the root; `[]` is the root), from its descriptor. @throws as {@link RootDir.list}. */
  dirStat(names: readonly string[]): BigIntStats {
    this.#hold(names);
    return fstatSync(this.#fds.length === 0 ? this.#fd : this.#fds[this.#fds.length - 1]!, { bigint: true });
  }

  /**
   * The entries of the directory `names`, with their types as the directory gives them.
   * @throws {@link SymlinkRefusedError} when a component is a symbolic link, {@link NotUnderRootError}
   *   for a component that is no name, Node's errors (`ENOENT`, `ENOTDIR`, …) otherwise.
   */
  list(names: readonly string[]): Dirent[] {
    const at = this.#hold(names);
    try {
      return readdirSync(at, { withFileTypes: true });
    } catch (error) {
      throw renamed(error, join(this.path, ...names));
    }
  }

  /** `lstat` of `name` in the directory `names` (a link is described, not followed); `undefined` when it is gone. @throws as {@link RootDir.list}. */
  lstat(names: readonly string[], name: string): BigIntStats | undefined {
    if (!isName(name)) throw new NotUnderRootError([...names, name].join("/"), [this.path]);
    const at = this.#hold(names);
    try {
      return lstatSync(at + name, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      throw renamed(error, join(this.path, ...names, name));
    }
  }

  /**
   * Opens the regular file `name` in the directory `names` for reading, without blocking and never
   * through a link, and checks it on the handle as `openRegularSync` does (safe-open.ts).
   * @throws as {@link RootDir.list}, then FileChangedError and NotRegularFileError as `openRegularSync`.
   */
  openFile(
    names: readonly string[],
    name: string,
    options: OpenRegularOptions = {},
  ): { fd: number; stat: BigIntStats } {
    const whole = [...names, name];
    if (!isName(name)) throw new NotUnderRootError(whole.join("/"), [this.path]);
    const fd = openAt(this.#hold(names, whole), name, READ_FLAGS, this.path, whole, whole.length);
    // The root is a real path and every name a plain component: they join without path.join's normalising.
    return checkOpenedSync(`${this.path === "/" ? "" : this.path}/${whole.join("/")}`, fd, options);
  }

  /** Closes the directories it holds below the root: the next call opens from the root again. */
  release(): void {
    this.#hold([]);
  }

  /** Closes every descriptor it holds, the root's included. */
  close(): void {
    for (const fd of this.#fds) closeSync(fd);
    this.#fds = [];
    this.#names = [];
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Opens the regular file at `path` under the root `root` (a real path; `path` must start with it)
 * without following a symbolic link anywhere between them, and checks it on the handle: the one
 * way the server opens a file it serves. Returns a descriptor the caller closes.
 * @throws {@link NotUnderRootError} when `path` is not under `root`, {@link SymlinkRefusedError},
 *   {@link ProcfsMissingError}, and as `openRegularSync` (safe-open.ts).
 */
export function openUnderRootSync(
  root: string,
  path: string,
  options: OpenRegularOptions = {},
): { fd: number; stat: BigIntStats } {
  const names = relativeNames(root, path);
  if (names === undefined) throw new NotUnderRootError(path, [root]);
  const dir = RootDir.openSync(root);
  try {
    return dir.openFile(names.slice(0, -1), names[names.length - 1]!, options);
  } finally {
    dir.close();
  }
}

/** The components of `path` below `root`, at least one, each a name; `undefined` when `path` is not below `root`. */
export function relativeNames(root: string, path: string): string[] | undefined {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  if (!path.startsWith(prefix)) return undefined;
  const names = path.slice(prefix.length).split("/");
  return names.every(isName) ? names : undefined;
}
