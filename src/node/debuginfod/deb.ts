// A .deb or .ddeb: an ar archive of debian-binary, control.tar.* and data.tar.*. Only the headers are
// read here (ar is not compressed, so members are skipped by offset); the payload is data.tar's range.
// By hand: the format is a magic and 60-byte text headers, and the ar readers on npm are unmaintained.
import { createTarDecoder } from "modern-tar";
import type { Compression } from "./archive-decode.js";
import { readExactly, webStream } from "./archive-decode.js";
import { canonicalMember, type PayloadEntry } from "./archive-entry.js";
import { ArchiveError, type ArchiveLimits } from "./archive-error.js";

const MAGIC = "!<arch>\n";
const HEADER = 60;
/** Most ar members looked at before data.tar: a .deb has three, dpkg allows signatures beside them. */
const MAX_AR_MEMBERS = 64;

const COMPRESSIONS: Record<string, Compression> = { "": "none", ".gz": "gzip", ".xz": "xz", ".zst": "zstd" };

/** Where a package's payload lies in the file and how it is compressed. */
export interface Payload {
  /** Offset of its first byte. */
  start: number;
  /** Its length in bytes. */
  length: number;
  /** Its compression. */
  compression: Compression;
  /** What it is, for messages: "data.tar.xz". */
  name: string;
}

const latin1 = new TextDecoder("latin1");

/**
 * The `data.tar.*` member of the ar archive open at `fd` (of `size` bytes).
 * @throws {@link ArchiveError} `FORMAT` for a file that is not an ar archive or has no data.tar,
 *   `UNSUPPORTED` for a data.tar compressed with bzip2 or lzma, `TRUNCATED` for headers or data past the end.
 */
export async function debPayload(fd: number, archive: string, size: number): Promise<Payload> {
  const magic = latin1.decode(await readExactly(fd, archive, 0, Math.min(size, MAGIC.length), "the ar magic"));
  if (magic !== MAGIC)
    throw new ArchiveError("FORMAT", archive, `not an ar archive: it starts with ${JSON.stringify(magic)}`);
  let at = MAGIC.length;
  for (let n = 0; at < size; n++) {
    if (n === MAX_AR_MEMBERS)
      throw new ArchiveError("LIMIT", archive, `no data.tar among its first ${MAX_AR_MEMBERS} ar members`);
    const header = latin1.decode(await readExactly(fd, archive, at, HEADER, `ar member header ${n}`));
    if (header.slice(58) !== "`\n")
      throw new ArchiveError("FORMAT", archive, `ar member header ${n} at ${at} does not end with its magic`);
    const name = header.slice(0, 16).trimEnd().replace(/\/$/, "");
    const sizeField = header.slice(48, 58).trim();
    if (!/^\d{1,10}$/.test(sizeField))
      throw new ArchiveError(
        "FORMAT",
        archive,
        `ar member ${JSON.stringify(name)} has a size field ${JSON.stringify(sizeField)}`,
      );
    const length = Number(sizeField);
    const start = at + HEADER;
    if (start + length > size)
      throw new ArchiveError(
        "TRUNCATED",
        archive,
        `ar member ${JSON.stringify(name)} runs to ${start + length} bytes, past the end of the file at ${size}`,
      );
    if (name.startsWith("data.tar")) {
      const compression = COMPRESSIONS[name.slice("data.tar".length)];
      if (compression === undefined)
        throw new ArchiveError("UNSUPPORTED", archive, `${name}: only data.tar, .gz, .xz and .zst are read`);
      return { start, length, compression, name };
    }
    at = start + length + (length & 1);
  }
  throw new ArchiveError("FORMAT", archive, "no data.tar member among its ar members");
}

/** The entries of the tar archive streamed in `data` (strict: bad checksums and a missing end are errors). @internal */
export async function* tarEntries(
  data: AsyncIterable<Uint8Array>,
  archive: string,
  limits: ArchiveLimits,
): AsyncGenerator<PayloadEntry> {
  const entries = webStream(data).pipeThrough(createTarDecoder({ strict: true }));
  const encoder = new TextEncoder();
  try {
    for await (const { header, body } of entries) {
      if (encoder.encode(header.name).length > limits.maxNameBytes)
        throw new ArchiveError("LIMIT", archive, `a member name is longer than ${limits.maxNameBytes} bytes`);
      const reader = body.getReader();
      const chunks = (async function* () {
        try {
          for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
        } catch (error) {
          throw tarError(error, archive);
        }
      })();
      yield {
        member: canonicalMember(header.name),
        regular: header.type === "file",
        size: header.size,
        mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
        body: chunks,
      };
      // Drained, never cancelled: modern-tar 0.8.7 stalls on a later entry after a body cancelled part-read.
      while (!(await reader.read()).done) {}
      reader.releaseLock();
    }
  } catch (error) {
    throw tarError(error, archive);
  }
}

// modern-tar's errors carry only a message ("Tar archive is truncated.", "Invalid tar header checksum.").
function tarError(error: unknown, archive: string): ArchiveError {
  if (error instanceof ArchiveError) return error;
  const message = (error as Error).message;
  return new ArchiveError(/truncated/i.test(message) ? "TRUNCATED" : "CORRUPT", archive, `tar: ${message}`);
}
