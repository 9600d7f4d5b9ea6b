// Reads and edits snapshots by the documented layout (src/snapshot.ts), independently of the decoder.
import { crc32 } from "node:zlib";

/** Offsets of the header fields and the record size, from the format's diagram. */
export const Layout = {
  version: 8,
  entrySize: 10,
  buildIdMax: 12,
  flags: 14,
  capacity: 16,
  count: 20,
  header: 24,
  record: 32,
} as const;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Rewrites the trailing CRC-32 (zlib's, not the library's) after an edit, to reach the checks behind it. */
export function reseal(bytes: Uint8Array): Uint8Array {
  const body = bytes.length - 4;
  view(bytes).setUint32(body, crc32(bytes.subarray(0, body)), true);
  return bytes;
}

/** A copy of `bytes` with `edit` applied and the checksum made right again. */
export function edited(bytes: Uint8Array, edit: (copy: Uint8Array, v: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  edit(copy, view(copy));
  return reseal(copy);
}

/** The stored checksum and the one zlib computes over the bytes before it. */
export function checksums(bytes: Uint8Array): { stored: number; computed: number } {
  const body = bytes.length - 4;
  return { stored: view(bytes).getUint32(body, true), computed: crc32(bytes.subarray(0, body)) };
}

/** `[key, hex build ID, reference bit]` of each record, in file order. */
export function records(bytes: Uint8Array): [bigint, string, number][] {
  const v = view(bytes);
  const out: [bigint, string, number][] = [];
  for (let i = 0; i < v.getUint32(Layout.count, true); i++) {
    const at = Layout.header + i * Layout.record;
    const len = bytes[at + 28]!;
    out.push([
      v.getBigUint64(at, true),
      Buffer.from(bytes.subarray(at + 8, at + 8 + len)).toString("hex"),
      bytes[at + 29]!,
    ]);
  }
  return out;
}
