// A synthetic core dump with one PT_NOTE holding an NT_FILE note of any number of entries, written to
// a file a chunk at a time (a core of 4,194,304 entries is 146 MB). Entry i maps one page at
// 0x10000 + i * 0x2000, file offset 0, of `/x/I`. With `headers`, the worst
// case for memory instead: entry i maps 256 bytes at 0x10000 + i * 256, all captured by one PT_LOAD,
// each holding a small ELF file whose build ID is i (20 bytes, big-endian).
import { open } from "node:fs/promises";

/** What {@link writeSyntheticCore} writes. */
export interface SyntheticCoreSpec {
  /** NT_FILE entries. */
  entries: number;
  /** Give every entry an ELF header with a build ID of its own, in the core. */
  headers?: boolean;
}

/** The build ID {@link writeSyntheticCore} gives entry `i` with `headers`: `i` as 20 big-endian bytes, in hex. */
export function syntheticBuildId(i: number): string {
  return i.toString(16).padStart(40, "0");
}

const EHDR = 64;
const PHDR = 56;
const NOTE_AT = EHDR + PHDR; // of one image: its one PT_NOTE follows its header and program header
const NAME = "CORE\0\0\0\0"; // "CORE\0" padded to 8
const NT_FILE = 0x46494c45;
const PAGE = 4096n;
const CHUNK = 1 << 16;
const IMAGE = 256;
const BASE = 0x10000n;

// A 256-byte ELF64 shared object: header, one PT_NOTE at 120, a GNU build-ID note of 20 bytes (the last 8 set per entry).
function imageTemplate(): Uint8Array {
  const v = new DataView(new ArrayBuffer(IMAGE));
  new Uint8Array(v.buffer).set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 3, true); // ET_DYN
  v.setUint16(18, 62, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(32, BigInt(EHDR), true);
  v.setUint16(52, EHDR, true);
  v.setUint16(54, PHDR, true);
  v.setUint16(56, 1, true);
  v.setUint32(EHDR, 4, true);
  v.setBigUint64(EHDR + 8, BigInt(NOTE_AT), true);
  v.setBigUint64(EHDR + 32, 36n, true);
  v.setBigUint64(EHDR + 48, 4n, true);
  v.setUint32(NOTE_AT, 4, true);
  v.setUint32(NOTE_AT + 4, 20, true);
  v.setUint32(NOTE_AT + 8, 3, true); // NT_GNU_BUILD_ID
  v.setUint32(NOTE_AT + 12, 0x00554e47, true); // "GNU\0"
  return new Uint8Array(v.buffer);
}

/** Writes the core `spec` describes to `file`; returns its size and its NT_FILE descriptor's. */
export async function writeSyntheticCore(
  file: string,
  spec: SyntheticCoreSpec,
): Promise<{ size: number; descsz: number }> {
  const path = (i: number) => `/x/${i}`;
  const encoder = new TextEncoder();
  let namesBytes = 0;
  for (let i = 0; i < spec.entries; i++) namesBytes += Buffer.byteLength(path(i)) + 1;
  const descsz = 16 + 24 * spec.entries + namesBytes;
  const padded = Math.ceil(descsz / 4) * 4;
  const noteAt = EHDR + PHDR * (spec.headers ? 2 : 1);
  const noteSize = 12 + NAME.length + padded;
  const descAt = noteAt + 12 + NAME.length;
  const dataAt = Math.ceil((descAt + padded) / 4096) * 4096;
  const head = new DataView(new ArrayBuffer(descAt + 16));
  new Uint8Array(head.buffer).set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  head.setUint16(16, 4, true); // ET_CORE
  head.setUint16(18, 62, true); // x86-64
  head.setUint32(20, 1, true);
  head.setBigUint64(32, BigInt(EHDR), true);
  head.setUint16(52, EHDR, true);
  head.setUint16(54, PHDR, true);
  head.setUint16(56, spec.headers ? 2 : 1, true);
  head.setUint32(EHDR, 4, true); // PT_NOTE
  head.setBigUint64(EHDR + 8, BigInt(noteAt), true);
  head.setBigUint64(EHDR + 32, BigInt(noteSize), true);
  head.setBigUint64(EHDR + 48, 4n, true);
  if (spec.headers) {
    const load = EHDR + PHDR;
    head.setUint32(load, 1, true); // PT_LOAD
    head.setBigUint64(load + 8, BigInt(dataAt), true);
    head.setBigUint64(load + 16, BASE, true);
    head.setBigUint64(load + 32, BigInt(IMAGE * spec.entries), true);
    head.setBigUint64(load + 40, BigInt(IMAGE * spec.entries), true);
  }
  head.setUint32(noteAt, 5, true);
  head.setUint32(noteAt + 4, descsz, true);
  head.setUint32(noteAt + 8, NT_FILE, true);
  encoder.encodeInto(NAME, new Uint8Array(head.buffer, noteAt + 12));
  head.setBigUint64(descAt, BigInt(spec.entries), true);
  head.setBigUint64(descAt + 8, PAGE, true);
  const out = await open(file, "w");
  try {
    await out.write(new Uint8Array(head.buffer));
    const triples = new BigUint64Array(3 * Math.min(spec.entries, CHUNK));
    for (let first = 0; first < spec.entries; first += CHUNK) {
      const n = Math.min(CHUNK, spec.entries - first);
      for (let i = 0; i < n; i++) {
        const start = BASE + BigInt(first + i) * (spec.headers ? BigInt(IMAGE) : 0x2000n);
        triples[3 * i] = start;
        triples[3 * i + 1] = start + (spec.headers ? BigInt(IMAGE) : PAGE);
        triples[3 * i + 2] = 0n;
      }
      await out.write(new Uint8Array(triples.buffer, 0, 24 * n));
    }
    for (let first = 0; first < spec.entries; first += CHUNK) {
      const names: string[] = [];
      for (let i = first; i < Math.min(spec.entries, first + CHUNK); i++) names.push(`${path(i)}\0`);
      await out.write(encoder.encode(names.join("")));
    }
    await out.write(new Uint8Array(padded - descsz));
    if (!spec.headers) return { size: descAt + padded, descsz };
    await out.write(new Uint8Array(dataAt - descAt - padded));
    const image = imageTemplate();
    const images = new Uint8Array(IMAGE * Math.min(spec.entries, CHUNK));
    const ids = new DataView(images.buffer);
    for (let first = 0; first < spec.entries; first += CHUNK) {
      const n = Math.min(CHUNK, spec.entries - first);
      for (let i = 0; i < n; i++) {
        images.set(image, i * IMAGE);
        ids.setBigUint64(i * IMAGE + NOTE_AT + 16 + 12, BigInt(first + i));
      }
      await out.write(images.subarray(0, n * IMAGE));
    }
    return { size: dataAt + IMAGE * spec.entries, descsz };
  } finally {
    await out.close();
  }
}
