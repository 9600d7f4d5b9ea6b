// Events and answers in a line each, for the address-space tests.
import type { AddressSpaces, FileRef, MapEvent } from "../../src/spaces/index.js";

/** An inode ref on device 8:1. */
export function inode(n: number, generation = 1n): FileRef {
  return { kind: "inode", major: 8, minor: 1, inode: BigInt(n), generation };
}

export const LIBC = { path: "/usr/lib/libc.so.6", file: inode(100) };
export const LIBZ = { path: "/usr/lib/libz.so.1", file: inode(101) };
export const LIBEXPAT = { path: "/usr/lib/libexpat.so.1", file: inode(102) };
export const EXE = { path: "/usr/bin/app", file: inode(103) };
export const OTHER = { path: "/usr/bin/other", file: inode(104) };

/** A map event of `what` at `[start, start + length)`, file offset `pgoff`. */
export function map(
  time: bigint,
  pid: number,
  start: bigint,
  length: bigint,
  what: { path: string; file: FileRef },
  pgoff = 0n,
): MapEvent {
  return { type: "map", time, pid, tid: pid, start, length, pgoff, prot: 5, flags: 2, ...what };
}

/** The answer for `address` as one string: `PATH+0xOFFSET`, or the failure's reason. */
export function at(spaces: AddressSpaces, pid: number, address: bigint, time?: bigint): string {
  const r = spaces.lookup(pid, address, time);
  return r.ok ? `${r.mapping.path}+0x${r.fileOffset.toString(16)}` : r.reason;
}
