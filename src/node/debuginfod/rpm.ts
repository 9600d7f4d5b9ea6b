// An .rpm: a 96-byte lead, a signature header, a header, then the payload (a compressed cpio archive)
// to the end of the file. The headers are read here for the payload's format and compressor; the
// cpio "newc" entries are walked by hand (110-byte text headers; no maintained streaming cpio reader
// exists on npm), one at a time from the decompressed stream.
import { type Compression, readExactly } from "./archive-decode.js";
import { canonicalMember, type PayloadEntry } from "./archive-entry.js";
import { ArchiveError, type ArchiveLimits } from "./archive-error.js";
import type { Payload } from "./deb.js";

const LEAD = 96;
const LEAD_MAGIC = 0xedabeedb;
const HEADER_MAGIC = 0x8eade801;
const PREAMBLE = 16;
const ENTRY = 16;
/** rpm's own bounds on a header (`hdrchkTags`, `hdrchkData` in rpm's header.c): under 64 Ki tags and 16 MiB of data. */
const MAX_TAGS = 0xffff;
const MAX_DATA = 0xffffff;
const TAG_PAYLOADFORMAT = 1124;
const TAG_PAYLOADCOMPRESSOR = 1125;
const TYPE_STRING = 6;

const COMPRESSORS: Record<string, Compression> = { gzip: "gzip", xz: "xz", zstd: "zstd" };

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

// The header structure at `at`: its string tags, and its length in bytes.
async function readHeader(
  fd: number,
  archive: string,
  at: number,
  what: string,
): Promise<{ strings: Map<number, string>; length: number }> {
  const pre = new DataView((await readExactly(fd, archive, at, PREAMBLE, what)).buffer);
  if (pre.getUint32(0) !== HEADER_MAGIC)
    throw new ArchiveError("FORMAT", archive, `the ${what} at ${at} does not start with the header magic 8eade801`);
  const tags = pre.getUint32(8);
  const data = pre.getUint32(12);
  if (tags > MAX_TAGS || data > MAX_DATA)
    throw new ArchiveError(
      "LIMIT",
      archive,
      `the ${what} has ${tags} tags and ${data} bytes of data, past rpm's ${MAX_TAGS} and ${MAX_DATA}`,
    );
  const body = await readExactly(fd, archive, at + PREAMBLE, tags * ENTRY + data, what);
  const v = new DataView(body.buffer);
  const store = body.subarray(tags * ENTRY);
  const strings = new Map<number, string>();
  for (let i = 0; i < tags; i++) {
    const tag = v.getUint32(i * ENTRY);
    const offset = v.getUint32(i * ENTRY + 8);
    if (v.getUint32(i * ENTRY + 4) !== TYPE_STRING || offset >= store.length) continue;
    const end = store.indexOf(0, offset);
    strings.set(tag, latin1.decode(store.subarray(offset, end < 0 ? store.length : end)));
  }
  return { strings, length: PREAMBLE + tags * ENTRY + data };
}

/**
 * Where the payload of the .rpm open at `fd` (of `size` bytes) lies, and its compression.
 * @throws {@link ArchiveError} `FORMAT` for a file without the lead or header magic, `UNSUPPORTED`
 *   for a payload that is not cpio or is compressed with bzip2 or lzma, `TRUNCATED`, `LIMIT`.
 */
export async function rpmPayload(fd: number, archive: string, size: number): Promise<Payload> {
  const lead = await readExactly(fd, archive, 0, Math.min(size, LEAD), "the rpm lead");
  if (lead.length < LEAD || new DataView(lead.buffer).getUint32(0) !== LEAD_MAGIC)
    throw new ArchiveError("FORMAT", archive, "not an rpm: no lead magic edabeedb");
  const signature = await readHeader(fd, archive, LEAD, "signature header");
  const at = LEAD + ((signature.length + 7) & ~7);
  const header = await readHeader(fd, archive, at, "header");
  const start = at + header.length;
  const format = header.strings.get(TAG_PAYLOADFORMAT) ?? "cpio";
  const compressor = header.strings.get(TAG_PAYLOADCOMPRESSOR) ?? "gzip";
  if (format !== "cpio")
    throw new ArchiveError("UNSUPPORTED", archive, `the payload format is ${JSON.stringify(format)}, not cpio`);
  const compression = COMPRESSORS[compressor];
  if (compression === undefined)
    throw new ArchiveError(
      "UNSUPPORTED",
      archive,
      `the payload is compressed with ${JSON.stringify(compressor)}; only gzip, xz and zstd are read`,
    );
  if (start > size)
    throw new ArchiveError("TRUNCATED", archive, `the header ends at ${start}, past the end of the file at ${size}`);
  return { start, length: size - start, compression, name: `cpio.${compressor}` };
}

const CPIO_HEADER = 110;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const TRAILER = "TRAILER!!!";

// Exact reads over an async stream of chunks.
class Bytes {
  #it: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);

  constructor(
    source: AsyncIterable<Uint8Array>,
    readonly archive: string,
  ) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(what: string): Promise<void> {
    while (this.#chunk.length === 0) {
      const next = await this.#it.next();
      if (next.done) throw new ArchiveError("TRUNCATED", this.archive, `cpio: the payload ends inside ${what}`);
      this.#chunk = next.value;
    }
  }

  /** Up to `n` bytes (at least one). */
  async some(n: number, what: string): Promise<Uint8Array> {
    await this.#fill(what);
    const got = this.#chunk.subarray(0, n);
    this.#chunk = this.#chunk.subarray(got.length);
    return got;
  }

  async exactly(n: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; ) {
      const part = await this.some(n - at, what);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async skip(n: number, what: string): Promise<void> {
    for (let left = n; left > 0; ) left -= (await this.some(left, what)).length;
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

/** The entries of a cpio "newc" archive (magic 070701 or 070702) streamed in `data`. @internal */
export async function* cpioEntries(
  data: AsyncIterable<Uint8Array>,
  archive: string,
  limits: ArchiveLimits,
): AsyncGenerator<PayloadEntry> {
  const bytes = new Bytes(data, archive);
  try {
    for (;;) {
      const header = latin1.decode(await bytes.exactly(CPIO_HEADER, "a cpio header"));
      const magic = header.slice(0, 6);
      if (magic === "07070X")
        throw new ArchiveError("UNSUPPORTED", archive, "cpio: a stripped payload (07070X, rpm's large-file format)");
      if (magic !== "070701" && magic !== "070702")
        throw new ArchiveError("CORRUPT", archive, `cpio: a header starts with ${JSON.stringify(magic)}, not 070701`);
      const field = (i: number): number => {
        const text = header.slice(6 + i * 8, 14 + i * 8);
        if (!/^[0-9a-fA-F]{8}$/.test(text))
          throw new ArchiveError("CORRUPT", archive, `cpio: header field ${i} is ${JSON.stringify(text)}`);
        return Number.parseInt(text, 16);
      };
      const mode = field(1);
      const mtime = field(5);
      const size = field(6);
      const nameSize = field(11);
      if (nameSize > limits.maxNameBytes + 1)
        throw new ArchiveError("LIMIT", archive, `a member name is longer than ${limits.maxNameBytes} bytes`);
      const rawName = await bytes.exactly(nameSize, "a cpio name");
      await bytes.skip((4 - ((CPIO_HEADER + nameSize) % 4)) % 4, "a cpio name's padding");
      const name = utf8.decode(rawName.subarray(0, Math.max(0, nameSize - 1)));
      if (name === TRAILER) return;
      let left = size;
      const body = (async function* () {
        while (left > 0) {
          const part = await bytes.some(left, "a member's data");
          left -= part.length;
          yield part;
        }
      })();
      yield {
        member: canonicalMember(name),
        regular: (mode & S_IFMT) === S_IFREG,
        size,
        mtime,
        body,
      };
      await body.return(undefined);
      await bytes.skip(left + ((4 - (size % 4)) % 4), "a member's data");
    }
  } finally {
    await bytes.close();
  }
}
