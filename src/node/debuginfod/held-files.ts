/**
 * Descriptors of small indexed files kept open after the server opened them, so that asking for one
 * again costs no walk from its root (files/under-root.ts opens every component afresh, the root by
 * name included: about four times the cost of what is checked here).
 *
 * A held descriptor serves again only while it is still exactly the file at its indexed path, reached
 * without a link: the kernel's own name for the open file (`/proc/PID/fd/N`, built from the directory
 * entries it hangs from as they are at that instant) is that path, and its `fstat` stamp is still the
 * index's. Renaming it or a directory above it changes that name; replacing or unlinking it marks it
 * ` (deleted)`; a symbolic link swapped in on the way means the entry it replaced was moved or removed
 * first. The root is a real path (no links in it), so an equal name is a walk from the root through
 * real directories, as an open from the root would make now. Otherwise the descriptor is closed and
 * the file opened afresh from its root, which refuses what it must.
 *
 * Only files of at most {@link HELD_MAX_BYTES} are held: their bodies are read in one synchronous call
 * (server.ts), so no descriptor is ever in use when the cache closes it.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, fstatSync, readlinkSync } from "node:fs";
import { type Opened, openUnchanged, sameStamp } from "./artifact.js";
import type { IndexedFile } from "./build-id-index.js";

/** Largest file held open, in bytes: the server reads bodies below this in one call. */
export const HELD_MAX_BYTES = 256 * 1024;

/** Descriptors held at most; the least recently used one is closed to make room. */
export const HELD_FILES = 256;

interface Held {
  fd: number;
  /** `/proc/PID/fd/N` (no `/proc/self` to follow). */
  link: string;
  /** Asked for since the last {@link HeldFiles.sweep}. */
  used: boolean;
}

/** Small indexed files held open by path, checked before every use. @internal */
export class HeldFiles {
  readonly #held = new Map<string, Held>();
  readonly #capacity: number;
  readonly #fds = `/proc/${process.pid}/fd/`;

  constructor(capacity = HELD_FILES) {
    this.#capacity = capacity;
  }

  /** Descriptors held now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * `file` opened as {@link openUnchanged} opens it, through a held descriptor when that is still
   * the same file at the same path. The descriptor stays the cache's: never close it, and be done
   * with it before yielding to the event loop.
   */
  open(file: IndexedFile): Opened {
    const held = this.#held.get(file.path);
    if (held) {
      this.#held.delete(file.path);
      if (stillAt(held, file)) {
        held.used = true;
        this.#held.set(file.path, held);
        return held.fd;
      }
      closeSync(held.fd);
    }
    const fd = openUnchanged(file);
    if (typeof fd !== "number") return fd;
    if (this.#held.size >= this.#capacity) {
      const [path, oldest] = this.#held.entries().next().value as [string, Held];
      this.#held.delete(path);
      closeSync(oldest.fd);
    }
    this.#held.set(file.path, { fd, link: this.#fds + fd, used: true });
    return fd;
  }

  /** Closes the descriptors not asked for since the last sweep, so that a file removed meanwhile is not kept alive by them. */
  sweep(): void {
    for (const [path, held] of this.#held) {
      if (held.used) held.used = false;
      else {
        this.#held.delete(path);
        closeSync(held.fd);
      }
    }
  }

  /** Closes every descriptor held. */
  clear(): void {
    for (const held of this.#held.values()) closeSync(held.fd);
    this.#held.clear();
  }
}

// Whether a held descriptor is still `file`: at its path by the kernel's name for it, with its stamp unchanged.
function stillAt({ fd, link }: Held, file: IndexedFile): boolean {
  let stat: BigIntStats;
  try {
    if (readlinkSync(link) !== file.path) return false;
    stat = fstatSync(fd, { bigint: true });
  } catch {
    return false;
  }
  return stat.dev === file.dev && stat.ino === file.ino && sameStamp(stat, file);
}
