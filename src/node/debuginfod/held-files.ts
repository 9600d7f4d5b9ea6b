/**
 * Descriptors of small indexed files kept open once served, so that a hit costs no walk from its root
 * (files/under-root.ts: about four times what is checked here).
 *
 * A held descriptor serves only while the kernel's name for it (`/proc/PID/fd/N`, built from the
 * directory entries it hangs from at that instant) is its indexed path and its `fstat` stamp is the
 * index's. A rename of it or of a folder above changes that name, a replacement or unlink marks it
 * ` (deleted)`, a link swapped in on the way means the entry it replaced moved first; the root is a
 * real path, so an equal name is a walk through real directories. Otherwise it is closed and the file
 * opened from its root, which refuses what it must. Files of at most {@link HELD_MAX_BYTES} are held,
 * read in one synchronous call (server.ts), so none is in use when closed; up to 4 MiB of them are
 * kept read, used after the same checks and dropped with their descriptor: a hit copies its bytes once.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, fstatSync, readlinkSync } from "node:fs";
import { type Opened, openUnchanged, sameStamp } from "./artifact.js";
import type { IndexedFile } from "./build-id-index.js";
import { readFully } from "./reads.js";

/** Largest file held open, in bytes: the server reads bodies below this in one call. */
export const HELD_MAX_BYTES = 256 * 1024;

/** Descriptors held at most; the least recently used one is closed to make room. */
export const HELD_FILES = 256;

const KEPT_BYTES = 4 * 1024 * 1024;

interface Held {
  fd: number;
  /** `/proc/PID/fd/N` (no `/proc/self` to follow). */
  link: string;
  /** Asked for since the last {@link HeldFiles.sweep}. */
  used: boolean;
  /** Its bytes, read when its stamp was `of`'s. */
  bytes?: Uint8Array;
  of?: IndexedFile;
}

/** Small indexed files held open by path, checked before every use. @internal */
export class HeldFiles {
  readonly #held = new Map<string, Held>();
  readonly #capacity: number;
  readonly #fds = `/proc/${process.pid}/fd/`;
  #kept = 0;

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
      this.#close(held);
    }
    const fd = openUnchanged(file);
    if (typeof fd !== "number") return fd;
    if (this.#held.size >= this.#capacity) {
      const [path, oldest] = this.#held.entries().next().value as [string, Held];
      this.#held.delete(path);
      this.#close(oldest);
    }
    this.#held.set(file.path, { fd, link: this.#fds + fd, used: true });
    return fd;
  }

  /** The bytes of `file` (just opened), kept or read: undefined past 4 MiB kept, short if it shrank. */
  kept(file: IndexedFile): Uint8Array | undefined {
    const held = this.#held.get(file.path)!;
    // Another stamp: changed in place, then rescanned.
    if (held.of?.mtimeNs === file.mtimeNs && held.of.ctimeNs === file.ctimeNs) return held.bytes;
    this.#drop(held);
    const size = Number(file.size);
    if (this.#kept + size > KEPT_BYTES) return;
    const bytes = new Uint8Array(size);
    const got = readFully(held.fd, bytes, 0);
    if (got < size) return bytes.subarray(0, got);
    this.#kept += size;
    held.bytes = bytes;
    held.of = file;
    return bytes;
  }

  #drop(held: Held): void {
    this.#kept -= held.bytes?.length ?? 0;
    held.bytes = held.of = undefined;
  }

  #close(held: Held): void {
    closeSync(held.fd);
    this.#drop(held);
  }

  /** Closes the descriptors not asked for since the last sweep, so that a file removed meanwhile is not kept alive by them. */
  sweep(): void {
    for (const [path, held] of this.#held) {
      if (held.used) held.used = false;
      else {
        this.#held.delete(path);
        this.#close(held);
      }
    }
  }

  /** Closes every descriptor held. */
  clear(): void {
    for (const held of this.#held.values()) this.#close(held);
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
