// Builds perf.data bytes by hand for hostile inputs: pipe-mode streams of chosen records, and zstd frames
// made of raw and RLE blocks (no compressor needed) for COMPRESSED records.

/** Little-endian bytes of the given values, each `width` bytes (a negative one in two's complement). */
export function le(width: number, ...values: (number | bigint)[]): number[] {
  const out: number[] = [];
  for (const value of values) {
    let v = BigInt(value);
    for (let i = 0; i < width; i++) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }
  return out;
}

/** A string's UTF-8 bytes and a NUL, padded with NULs to a multiple of 8, as perf writes names in records. */
export function text(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s), 0];
  while (bytes.length % 8) bytes.push(0);
  return bytes;
}

/** The 8 little-endian bytes of a u64. */
export function u64le(value: bigint): number[] {
  return le(8, value);
}

/** A record: the 8-byte header (size from the body unless given) and the body. */
export function record(type: number, body: number[] | Uint8Array, misc = 0, size?: number): number[] {
  return [...le(4, type), ...le(2, misc), ...le(2, size ?? 8 + body.length), ...body];
}

/** A HEADER_ATTR record of a 128-byte attr with this sample_type, `sample_id_all` when asked, and these ids. */
export function attrRecord(sampleType: bigint, ids: bigint[] = [], sampleIdAll = true, attrSize = 128): number[] {
  const attr = new Array<number>(attrSize).fill(0);
  attr.splice(0, 8, ...le(4, 1, attrSize));
  attr.splice(24, 8, ...le(8, sampleType));
  if (sampleIdAll) attr[40 + 2] = 1 << 2;
  return record(64, [...attr, ...le(8, ...ids)]);
}

/** The 16-byte little-endian pipe header. */
export const PIPE_HEADER = [..."PERFILE2"].map((c) => c.charCodeAt(0)).concat(le(8, 16));

/** A pipe-mode stream of these records. */
export function pipeStream(...records: number[][]): Uint8Array {
  return new Uint8Array([...PIPE_HEADER, ...records.flat()]);
}

/** A SAMPLE body for sample_type IP|TID|TIME|CALLCHAIN|PERIOD (PERIOD precedes CALLCHAIN) with this many call chain entries claimed. */
export function sampleBody(time: bigint, chain: bigint[], claimed: number | bigint = chain.length): number[] {
  return [...le(8, 0x1000n), ...le(4, 7, 7), ...le(8, time), ...le(8, 1n), ...le(8, claimed), ...le(8, ...chain)];
}

/** sample_type IP|TID|TIME|CALLCHAIN|PERIOD, what `perf record -e cpu-clock -g` writes. */
export const CPU_CLOCK_G = 0x127n;

/** A zstd frame header without checksum, with the window descriptor byte given (0x48: 512 KiB, perf's). */
export function zstdFrameHeader(windowDescriptor = 0x48): number[] {
  return [0x28, 0xb5, 0x2f, 0xfd, 0x00, windowDescriptor];
}

/** A raw zstd block holding `bytes`. */
export function zstdRawBlock(bytes: number[], last = false): number[] {
  const header = (bytes.length << 3) | (0 << 1) | (last ? 1 : 0);
  return [...le(3, header), ...bytes];
}

/** An RLE zstd block: `count` copies of `byte` (up to 128 KiB) in four bytes. */
export function zstdRleBlock(byte: number, count: number, last = false): number[] {
  const header = (count << 3) | (1 << 1) | (last ? 1 : 0);
  return [...le(3, header), byte];
}

/** sample_id_all's trailer for sample_type TID|TIME (CPU_CLOCK_G's), with IDENTIFIER's id after it when given. */
export function sampleIdTrailer(pid: number, tid: number, time: bigint, id?: bigint): number[] {
  return [...le(4, pid, tid), ...le(8, time), ...(id === undefined ? [] : le(8, id))];
}

/** An MMAP2 record (type 10): by (device, inode), or in build-ID form (misc bit 14) with `buildId.length` bytes claimed as its size. */
export function mmap2Record(
  m: { pid: number; tid: number; start: bigint; len: bigint; pgoff: bigint; path: string; misc: number },
  identity: { maj: number; min: number; ino: bigint } | { buildId: number[]; size?: number },
  trailer: number[],
): number[] {
  const head = [...le(4, m.pid, m.tid), ...le(8, m.start, m.len, m.pgoff)];
  const id =
    "ino" in identity
      ? [...le(4, identity.maj, identity.min), ...le(8, identity.ino, 0n)]
      : [identity.size ?? identity.buildId.length, 0, 0, 0, ...identity.buildId, ...new Array(20).fill(0)].slice(0, 24);
  const misc = m.misc | ("ino" in identity ? 0 : 1 << 14);
  return record(10, [...head, ...id, ...le(4, 5, 2), ...text(m.path), ...trailer], misc);
}

/** A COMM record (type 3), an exec when `exec` (misc bit 13). */
export function commRecord(pid: number, tid: number, comm: string, exec: boolean, trailer: number[]): number[] {
  return record(3, [...le(4, pid, tid), ...text(comm), ...trailer], exec ? 1 << 13 : 0);
}

/** A FORK (type 7) or EXIT (type 4) record. */
export function taskRecord(
  type: 4 | 7,
  t: { pid: number; ppid: number; tid: number; ptid: number; time: bigint },
  trailer: number[],
): number[] {
  return record(type, [...le(4, t.pid, t.ppid, t.tid, t.ptid), ...le(8, t.time), ...trailer]);
}

/** A HEADER_BUILD_ID record (type 67) of `id`, its size in the record (misc bit 15) when `size` is given. */
export function headerBuildIdRecord(pid: number, id: number[], path: string, misc: number, size?: number): number[] {
  const bytes = [...id, ...new Array(20).fill(0)].slice(0, 20);
  return record(
    67,
    [...le(4, pid), ...bytes, size ?? 0, 0, 0, 0, ...text(path)],
    misc | (size === undefined ? 0 : 1 << 15),
  );
}
