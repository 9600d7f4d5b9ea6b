// Bounded positional reads of an open descriptor, for the section-table and build-ID readers.
import { readSync } from "node:fs";
import { type BuildIdInfo, ElfError, parseBuildId } from "../../elf.js";
import type { ReadAt } from "./sections.js";

/** Bytes read from the start of a file at once: its headers and usual notes. */
export const HEAD = 4096;

/** Fills `bytes` from `fd` at `offset`; the count read, short only at end of file. @internal */
export function readFully(fd: number, bytes: Uint8Array, offset: number): number {
  let got = 0;
  while (got < bytes.length) {
    const n = readSync(fd, bytes, got, bytes.length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Positional reads of `fd`: `length` bytes at `offset`, fewer only at end of file. @internal */
export function fdReader(fd: number): ReadAt {
  return (offset, length) => {
    // Not zeroed (a zeroed 16 KiB array cost a hit 8 us): its own buffer, wholly read or copied short.
    const bytes = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    const got = readFully(fd, bytes, offset);
    return got === length ? bytes : bytes.slice(0, got);
  };
}

// Small bodies are cut from 256 KiB slabs (a slow client pins one: no more than a held body).
const SLAB_BYTES = 256 * 1024;
const SLAB_PIECE = 64 * 1024;

let slab = new ArrayBuffer(0);
let slabUsed = 0;

/** `length` bytes of `fd` at `offset` (fewer only at end of file) in memory of their own, small ones cut from a slab (an own 16 KiB buffer cost a hit ~10 us). @internal */
export function readBody(fd: number, offset: number, length: number): Uint8Array {
  let bytes: Uint8Array;
  if (length > SLAB_PIECE) bytes = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  else {
    if (slabUsed + length > slab.byteLength) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES).buffer;
      slabUsed = 0;
    }
    bytes = new Uint8Array(slab, slabUsed, length);
    slabUsed += (length + 7) & ~7;
  }
  const got = readFully(fd, bytes, offset);
  return got === length ? bytes : bytes.subarray(0, got);
}

/**
 * Positional reads of `fd` (a file of `size` bytes) whose first page is read once into `page`, a
 * buffer the caller reuses from file to file, and served from there: what a read returns inside it is
 * valid until the next call. @internal
 */
export function pagedReader(fd: number, size: number, page: Uint8Array): ReadAt {
  let got = 0;
  const want = Math.min(size, page.length);
  while (got < want) {
    const n = readSync(fd, page, got, want - got, got);
    if (n === 0) break;
    got += n;
  }
  const rest = fdReader(fd);
  return (offset, length) => (offset + length <= got ? page.subarray(offset, offset + length) : rest(offset, length));
}

/** The build ID of a file of `size` bytes through `read`, by the project's ELF reader. @throws {@link ElfError} as it does. @internal */
export function buildIdThrough(read: ReadAt, size: number): BuildIdInfo {
  const steps = parseBuildId(size);
  let step = steps.next();
  while (!step.done) {
    const { offset, length } = step.value;
    const bytes = read(offset, length);
    if (bytes.length < length)
      throw new ElfError("TRUNCATED", `read ${bytes.length} of ${length} bytes at 0x${offset.toString(16)}`);
    step = steps.next({ view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at: 0 });
  }
  return step.value;
}
