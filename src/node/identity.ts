/**
 * File identity: the (device, inode) pair that names a file on a running system, in the
 * encoding `stat(..., { bigint: true })` returns, and its 64-bit cache key.
 *
 * `/proc/PID/maps` prints the device as hexadecimal `major:minor`; `stat` returns the glibc
 * `dev_t` encoding of the same pair (`makedev` in `<sys/sysmacros.h>`). {@link deviceOf} turns
 * the first into the second so the two compare directly.
 */

/** A file's device and inode, exactly as `stat` with `bigint: true` reports them. */
export interface FileIdentity {
  /** `st_dev` in the glibc `dev_t` encoding. */
  dev: bigint;
  /** `st_ino`. */
  ino: bigint;
}

const MASK_8 = 0xffn;
const MASK_12 = 0xfffn;
const MASK_20 = 0xf_ffffn;
const MASK_32 = 0xffff_ffffn;
const MASK_64 = (1n << 64n) - 1n;

/** The glibc `dev_t` of a device number `major:minor` (what `makedev(major, minor)` returns). */
export function deviceOf(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & MASK_12) << 8n) | ((ma & ~MASK_12) << 32n) | (mi & MASK_8) | ((mi & ~MASK_8) << 12n);
}

/** The `major:minor` pair of a glibc `dev_t` (the inverse of {@link deviceOf}). */
export function majorMinorOf(dev: bigint): {
  /** Major device number (what `major(dev)` returns). */
  major: number;
  /** Minor device number (what `minor(dev)` returns). */
  minor: number;
} {
  const major = ((dev >> 8n) & MASK_12) | ((dev >> 32n) & ~MASK_12 & MASK_32);
  const minor = (dev & MASK_8) | ((dev >> 12n) & ~MASK_8 & MASK_32);
  return { major: Number(major), minor: Number(minor) };
}

/** `dev:ino` as `/proc/PID/maps` would print it (`fe:00 260131`), for messages and JSON. */
export function formatIdentity(id: FileIdentity): string {
  const { major, minor } = majorMinorOf(id.dev);
  return `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")} ${id.ino}`;
}

/** True when both name the same file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * The exact 64-bit packing of `id`, or `undefined` when it does not fit: the kernel's dev_t is
 * 12 bits of major and 20 of minor, so it packs whenever the inode number is below 2^32.
 * Layout: major (12) | minor (20) | inode (32).
 */
export function packIdentity(id: FileIdentity): bigint | undefined {
  const { major, minor } = majorMinorOf(id.dev);
  if (BigInt(major) > MASK_12 || BigInt(minor) > MASK_20 || id.ino < 0n || id.ino > MASK_32) return undefined;
  return (BigInt(major) << 52n) | (BigInt(minor) << 32n) | id.ino;
}

/**
 * The cache key of `id`: {@link packIdentity} when the pair packs exactly, else a 64-bit mix of
 * the full pair. A mixed key is not unique, so whoever uses it must keep the full pair beside the
 * entry and compare it on every hit (the resolver does).
 */
export function identityKey(id: FileIdentity): bigint {
  const packed = packIdentity(id);
  if (packed !== undefined) return packed;
  // splitmix64 finaliser over dev ^ rotated ino: spreads the high inode bits that did not fit.
  let x = (id.dev ^ ((id.ino << 29n) | (id.ino >> 35n)) ^ id.ino) & MASK_64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return x ^ (x >> 31n);
}
