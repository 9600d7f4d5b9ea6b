// Rewrites a little-endian file-mode perf.data as the big-endian file a big-endian machine would have
// written: every field in its own width, attr bitfields bit-reversed per byte (perf's swap_bitfield),
// strings and build IDs as they are. Kept: the attributes and their ids, MMAP, LOST, COMM, EXIT, FORK,
// SAMPLE, MMAP2, FINISHED_ROUND and FINISHED_INIT records, and the BUILD_ID feature; other records and
// features (whose layouts this helper does not know) are dropped, so record offsets change.

const KEPT = new Set([1, 2, 3, 4, 7, 9, 10, 68, 82]);

class Swapper {
  readonly out: DataView;
  constructor(
    readonly src: DataView,
    readonly dst: Uint8Array,
  ) {
    this.out = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  }
  u16(from: number, to: number): void {
    this.out.setUint16(to, this.src.getUint16(from, true), false);
  }
  u32(from: number, to: number): void {
    this.out.setUint32(to, this.src.getUint32(from, true), false);
  }
  u64(from: number, to: number): void {
    this.out.setBigUint64(to, this.src.getBigUint64(from, true), false);
  }
  bytes(from: number, to: number, n: number): void {
    this.dst.set(new Uint8Array(this.src.buffer, this.src.byteOffset + from, n), to);
  }
}

const reverseBits = (b: number): number => {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
};

function swapAttr(s: Swapper, from: number, to: number, size: number): void {
  const fields: [number, 2 | 4 | 8 | "bits"][] = [
    [0, 4],
    [4, 4],
    [8, 8],
    [16, 8],
    [24, 8],
    [32, 8],
    [40, "bits"],
    [48, 4],
    [52, 4],
    [56, 8],
    [64, 8],
    [72, 8],
    [80, 8],
    [88, 4],
    [92, 4],
    [96, 8],
    [104, 4],
    [108, 2],
    [110, 2],
    [112, 4],
    [116, 4],
    [120, 8],
    [128, 8],
  ];
  for (const [at, width] of fields) {
    if (at + (width === "bits" ? 8 : width) > size) break;
    if (width === "bits") for (let i = 0; i < 8; i++) s.dst[to + at + i] = reverseBits(s.src.getUint8(from + at + i));
    else if (width === 2) s.u16(from + at, to + at);
    else if (width === 4) s.u32(from + at, to + at);
    else s.u64(from + at, to + at);
  }
}

/** Swaps the sample_id trailer of `size` bytes ending at `end` (source) / `outEnd` (target). */
function swapTrailer(s: Swapper, sampleType: number, end: number, outEnd: number, size: number): void {
  let from = end - size;
  let to = outEnd - size;
  for (const [bit, pair] of [
    [2, true],
    [4, false],
    [64, false],
    [512, false],
    [128, true],
    [65536, false],
  ] as const) {
    if (!(sampleType & bit)) continue;
    if (pair) {
      s.u32(from, to);
      s.u32(from + 4, to + 4);
    } else s.u64(from, to);
    from += 8;
    to += 8;
  }
}

function swapSample(s: Swapper, sampleType: number, from: number, to: number, end: number): void {
  const order: [number, "u64" | "pair" | "chain"][] = [
    [1 << 16, "u64"],
    [1 << 0, "u64"],
    [1 << 1, "pair"],
    [1 << 2, "u64"],
    [1 << 3, "u64"],
    [1 << 6, "u64"],
    [1 << 9, "u64"],
    [1 << 7, "pair"],
    [1 << 8, "u64"],
    [1 << 5, "chain"],
  ];
  const known = order.reduce((mask, [bit]) => mask | bit, 0);
  if (sampleType & ~known)
    throw new Error(`perf-swap: sample_type 0x${sampleType.toString(16)} has fields this helper does not swap`);
  let p = from;
  let q = to;
  for (const [bit, kind] of order) {
    if (!(sampleType & bit)) continue;
    if (kind === "pair") {
      s.u32(p, q);
      s.u32(p + 4, q + 4);
      p += 8;
      q += 8;
    } else if (kind === "u64") {
      s.u64(p, q);
      p += 8;
      q += 8;
    } else {
      const nr = Number(s.src.getBigUint64(p, true));
      for (let i = 0; i <= nr; i++) s.u64(p + 8 * i, q + 8 * i);
      p += 8 * (nr + 1);
      q += 8 * (nr + 1);
    }
  }
  if (p !== end) throw new Error(`perf-swap: sample at ${from - 8} has ${end - p} bytes this helper does not know`);
}

/** The big-endian twin of a little-endian file-mode perf.data (see the file comment for what is kept). */
export function swapToBigEndian(input: Uint8Array): Uint8Array {
  const src = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (String.fromCharCode(...input.subarray(0, 8)) !== "PERFILE2")
    throw new Error("perf-swap: not a little-endian perf.data");
  const attrSize = Number(src.getBigUint64(16, true));
  const attrsOffset = Number(src.getBigUint64(24, true));
  const attrsSize = Number(src.getBigUint64(32, true));
  const dataOffset = Number(src.getBigUint64(40, true));
  const dataSize = Number(src.getBigUint64(48, true));
  const features = src.getBigUint64(72, true);
  const dst = new Uint8Array(input.length + 64);
  const s = new Swapper(src, dst);
  dst.set([..."2ELIFREP"].map((c) => c.charCodeAt(0)));
  for (const at of [8, 16, 24, 32, 40]) s.u64(at, at);
  let sampleType = 0;
  let trailer = 0;
  for (let at = attrsOffset; at < attrsOffset + attrsSize; at += attrSize) {
    const size = src.getUint32(at + 4, true);
    swapAttr(s, at, at, size);
    const idsAt = at + attrSize - 16;
    s.u64(idsAt, idsAt);
    s.u64(idsAt + 8, idsAt + 8);
    const idsOffset = Number(src.getBigUint64(idsAt, true));
    const idsSize = Number(src.getBigUint64(idsAt + 8, true));
    for (let i = 0; i < idsSize; i += 8) s.u64(idsOffset + i, idsOffset + i);
    sampleType = Number(src.getBigUint64(at + 24, true));
    const sampleIdAll = (src.getUint8(at + 42) >> 2) & 1;
    trailer = sampleIdAll ? 8 * [2, 4, 64, 512, 128, 65536].filter((bit) => sampleType & bit).length : 0;
  }
  let q = dataOffset;
  for (let p = dataOffset; p < dataOffset + dataSize; ) {
    const type = src.getUint32(p, true);
    const misc = src.getUint16(p + 4, true);
    const size = src.getUint16(p + 6, true);
    if (KEPT.has(type)) {
      s.u32(p, q);
      s.u16(p + 4, q + 4);
      s.u16(p + 6, q + 6);
      s.bytes(p + 8, q + 8, size - 8);
      const b = p + 8;
      const c = q + 8;
      if (type === 9) swapSample(s, sampleType, b, c, p + size);
      else if (type < 64) {
        if (type === 1 || type === 3 || type === 10) {
          s.u32(b, c);
          s.u32(b + 4, c + 4);
        }
        if (type === 1 || type === 10) for (const at of [8, 16, 24]) s.u64(b + at, c + at);
        if (type === 10) {
          if (misc & (1 << 14)) s.u16(b + 34, c + 34);
          else {
            s.u32(b + 32, c + 32);
            s.u32(b + 36, c + 36);
            s.u64(b + 40, c + 40);
            s.u64(b + 48, c + 48);
          }
          s.u32(b + 56, c + 56);
          s.u32(b + 60, c + 60);
        }
        if (type === 4 || type === 7) {
          for (const at of [0, 4, 8, 12]) s.u32(b + at, c + at);
          s.u64(b + 16, c + 16);
        }
        if (type === 2) for (const at of [0, 8]) s.u64(b + at, c + at);
        swapTrailer(s, sampleType, p + size, q + size, trailer);
      }
      q += size;
    }
    p += size;
  }
  const out = new DataView(dst.buffer);
  out.setBigUint64(48, BigInt(q - dataOffset), false);
  const buildIdBit = 1n << 2n;
  out.setBigUint64(72, features & buildIdBit, false);
  if (features & buildIdBit) {
    let index = 0;
    for (let bit = 0; bit < 2; bit++) if ((features >> BigInt(bit)) & 1n) index++;
    const table = dataOffset + dataSize;
    const sectionOffset = Number(src.getBigUint64(table + 16 * index, true));
    const sectionSize = Number(src.getBigUint64(table + 16 * index + 8, true));
    out.setBigUint64(q, BigInt(q + 16), false);
    out.setBigUint64(q + 8, BigInt(sectionSize), false);
    let to = q + 16;
    for (let p = sectionOffset; p < sectionOffset + sectionSize; ) {
      const size = src.getUint16(p + 6, true);
      s.bytes(p, to, size);
      s.u32(p, to);
      s.u16(p + 4, to + 4);
      s.u16(p + 6, to + 6);
      s.u32(p + 8, to + 8);
      p += size;
      to += size;
    }
    return dst.slice(0, to);
  }
  return dst.slice(0, q);
}
