/**
 * Stamps: what the resolver keeps beside each cached build ID to know the file is unchanged (its
 * full (device, inode), mtime, ctime and size, taken on the open handle), and their saved form.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from "node:fs";
import { type FileIdentity, sameIdentity } from "../identity.js";

/** A file's identity and the times and size that change when its bytes do. */
export interface Stamp extends FileIdentity {
  /** `st_mtim` in ns. */
  mtimeNs: bigint;
  /** `st_ctim` in ns: changes on any write, even one that puts the old mtime back. */
  ctimeNs: bigint;
  /** `st_size`. */
  size: bigint;
}

/** A saved stamp: the cache key it vouches for and the exact build ID it was read with. */
export interface SavedStamp {
  /** The cache key ({@link identityKey} of the stamp). */
  key: bigint;
  /** The file's stamp when its build ID was read. */
  stamp: Stamp;
  /** The build ID read then, lowercase hex. */
  buildId: string;
}

/** A stamps file that cannot be read back; the message says what is wrong. */
export class StampsFormatError extends Error {
  /** Always "StampsFormatError", so the error can be told apart after serialisation. */
  override name = "StampsFormatError";
}

/** The stamp of a file from its `fstat`. */
export function stampOf(st: BigIntStats): Stamp {
  return { dev: st.dev, ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, size: st.size };
}

/** Both stamps describe the same bytes of the same file. */
export function sameStamp(a: Stamp, b: Stamp): boolean {
  return sameIdentity(a, b) && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.size === b.size;
}

const STAMPS_FORMAT = "buildid-cache stamps 1";

/** Stamps as saved: JSON `{ format, stamps: [[key, dev, ino, mtimeNs, ctimeNs, size, buildId], …] }`, numbers as decimal strings. */
export function encodeStamps(saved: Iterable<SavedStamp>): Uint8Array {
  const rows: string[][] = [];
  for (const { key, stamp: s, buildId } of saved)
    rows.push([key, s.dev, s.ino, s.mtimeNs, s.ctimeNs, s.size].map(String).concat(buildId));
  return new TextEncoder().encode(JSON.stringify({ format: STAMPS_FORMAT, stamps: rows }));
}

/**
 * Reads back {@link encodeStamps}' bytes.
 * @throws StampsFormatError naming what is wrong: not JSON, another format, a malformed row.
 */
export function decodeStamps(bytes: Uint8Array): SavedStamp[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new StampsFormatError(`stamps are not JSON: ${(error as Error).message}`);
  }
  const { format, stamps } = (parsed ?? {}) as { format?: unknown; stamps?: unknown };
  if (format !== STAMPS_FORMAT)
    throw new StampsFormatError(
      `stamps format is ${JSON.stringify(format)}, expected ${JSON.stringify(STAMPS_FORMAT)}`,
    );
  if (!Array.isArray(stamps)) throw new StampsFormatError("stamps.stamps is not an array");
  return stamps.map((row: unknown, i) => {
    const ok =
      Array.isArray(row) &&
      row.length === 7 &&
      row.slice(0, 6).every((v) => typeof v === "string" && /^-?[0-9]{1,20}$/.test(v)) &&
      typeof row[6] === "string";
    if (!ok)
      throw new StampsFormatError(
        `stamp ${i} is not [key, dev, ino, mtimeNs, ctimeNs, size, buildId]: ${JSON.stringify(row)}`,
      );
    const [key, dev, ino, mtimeNs, ctimeNs, size] = (row as string[]).slice(0, 6).map(BigInt) as [
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
    ];
    return { key, stamp: { dev, ino, mtimeNs, ctimeNs, size }, buildId: row[6] as string };
  });
}
