/**
 * `/proc/PID/maps`: one line per mapping, as `show_map_vma()` in `fs/proc/task_mmu.c` prints it:
 *
 * ```
 * 7f7b50f27000-7f7b5107d000 r-xp 00026000 fe:00 339380       /usr/lib/x86_64-linux-gnu/libc.so.6
 * start        end          perms offset  dev   inode  pad  name (may hold spaces; "\n" shown as "\012")
 * ```
 */
import { deviceOf, type FileIdentity } from "../identity.js";
import { readRegularFile, readRegularFileSync } from "../safe-open.js";

/** What backs a mapping. */
export type MappingKind =
  /** A file reached by an absolute path (including `/memfd:…` and `(deleted)` files). */
  | "file"
  /** A kernel-named region: `[heap]`, `[stack]`, `[vdso]`, `[vvar]`, `[vsyscall]`, `[anon:…]`, `anon_inode:…`. */
  | "pseudo"
  /** No name at all: anonymous memory. */
  | "anonymous";

/** One line of `/proc/PID/maps`. */
export interface Mapping {
  /** First address of the mapping. */
  start: bigint;
  /** One past its last address. */
  end: bigint;
  /** The four permission characters as printed, e.g. `r-xp`. */
  perms: string;
  /** `r` is set. */
  read: boolean;
  /** `w` is set. */
  write: boolean;
  /** `x` is set. */
  exec: boolean;
  /** `s` (shared) rather than `p` (private, copy-on-write). */
  shared: boolean;
  /** Offset in the file of the byte mapped at `start`. */
  offset: bigint;
  /** Device major number (printed in hexadecimal). */
  major: number;
  /** Device minor number (printed in hexadecimal). */
  minor: number;
  /** Inode number; 0 for anonymous and most pseudo mappings. */
  inode: bigint;
  /** Name with the `" (deleted)"` suffix removed and `\012` decoded; `""` when anonymous. */
  path: string;
  /** The name ended in `" (deleted)"`: the file was unlinked after it was mapped. */
  deleted: boolean;
  /** What backs the mapping. */
  kind: MappingKind;
}

/** A maps line that does not have the kernel's shape; names the line and what was wrong. */
export class MapsParseError extends Error {
  /** Always "MapsParseError", so the error can be told apart after serialisation. */
  override name = "MapsParseError";
  /** 1-based line number within the parsed text. */
  readonly line: number;
  constructor(line: number, text: string, problem: string) {
    super(`maps line ${line}: ${problem}: ${JSON.stringify(text)}`);
    this.line = line;
  }
}

const DELETED = " (deleted)";
const U64_END = 1n << 64n;
/** The kernel prints at most `PATH_MAX` bytes of a name. */
const PATH_MAX = 4096;
// start-end perms offset major:minor inode, then the padded name.
const HEAD = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) ([0-9]+)(?: (.*))?$/;

function parseLine(text: string, lineNumber: number): Mapping {
  const m = HEAD.exec(text);
  if (!m) throw new MapsParseError(lineNumber, text, "not start-end perms offset dev inode [path]");
  const [, startHex, endHex, perms, offsetHex, majorHex, minorHex, inodeDec, rest] = m as unknown as string[];
  const start = BigInt(`0x${startHex}`);
  const end = BigInt(`0x${endHex}`);
  if (end <= start) throw new MapsParseError(lineNumber, text, `end 0x${endHex} is not above start 0x${startHex}`);
  if (end > U64_END) throw new MapsParseError(lineNumber, text, `end 0x${endHex} is past 2^64`);
  let name = (rest ?? "").trimStart().replaceAll("\\012", "\n");
  if (name.length > PATH_MAX) throw new MapsParseError(lineNumber, text.slice(0, 80), `a name longer than ${PATH_MAX}`);
  const inode = BigInt(inodeDec!);
  const deleted = name.startsWith("/") && name.endsWith(DELETED);
  if (deleted) name = name.slice(0, -DELETED.length);
  const kind: MappingKind = name === "" ? "anonymous" : name.startsWith("/") ? "file" : "pseudo";
  return {
    start,
    end,
    perms: perms!,
    read: perms![0] === "r",
    write: perms![1] === "w",
    exec: perms![2] === "x",
    shared: perms![3] === "s",
    offset: BigInt(`0x${offsetHex}`),
    major: Number.parseInt(majorHex!, 16),
    minor: Number.parseInt(minorHex!, 16),
    inode,
    path: name,
    deleted,
    kind,
  };
}

/**
 * Parses the text of a `/proc/PID/maps` file, in file order (ascending addresses).
 *
 * A name is everything after the padding, trailing spaces included. Two ambiguities are the
 * kernel's: a file really named `x (deleted)` reads as a deleted `x`, and a literal `\012` in a
 * name reads as a newline ({@link hasAmbiguousName}); `exactName` in map-files.ts settles them.
 * Lines must have the kernel's shape: a non-empty range below 2^64, names of at most 4096
 * characters, ranges in ascending order without overlap.
 * @throws MapsParseError on the first line that is not a maps line.
 */
export function parseMaps(text: string): Mapping[] {
  return [...parseMapsAfter(text).mappings];
}

/** A parsed read of a maps file, for {@link parseMapsAfter}. */
export interface MapsRead {
  /** The file's text. */
  readonly text: string;
  /** Its lines. */
  readonly raw: readonly string[];
  /** What each line parses to. */
  readonly mappings: readonly Mapping[];
}

/**
 * {@link parseMaps} of a later read of the same process: the lines whose text is unchanged since
 * `before` keep their `Mapping` objects, and a text unchanged as a whole returns `before` itself,
 * so a process's maps read again unchanged cost a comparison, not a parse.
 * @throws MapsParseError as {@link parseMaps}.
 */
export function parseMapsAfter(text: string, before?: MapsRead): MapsRead {
  if (before !== undefined && before.text === text) return before;
  const raw = text.split("\n");
  if (raw.at(-1) === "") raw.pop();
  const known = new Map<string, Mapping>();
  if (before !== undefined) for (let i = 0; i < before.raw.length; i++) known.set(before.raw[i]!, before.mappings[i]!);
  const mappings = raw.map((line, i) => known.get(line) ?? parseLine(line, i + 1));
  for (let i = 1; i < mappings.length; i++) {
    if (mappings[i]!.start < mappings[i - 1]!.end)
      throw new MapsParseError(i + 1, raw[i]!, "the range starts before the end of the line above");
  }
  return { text, raw, mappings };
}

/** Whether the maps line may not name its file exactly: it ends in `" (deleted)"` or holds a newline (printed `\012`, as a literal `\012` is). */
export function hasAmbiguousName(mapping: Mapping): boolean {
  return mapping.deleted || mapping.path.includes("\n");
}

const decoder = new TextDecoder();

/** Most bytes of a maps file read: 65,530 mappings (`vm.max_map_count`) of about 1 KiB each. */
export const MAPS_READ_LIMIT = 64 * 1024 * 1024;

/**
 * Reads (through `readRegularFile` of safe-open.ts: non-blocking, a regular file only, bounded) and parses
 * `/proc/PID/maps` (`procRoot` is where procfs is mounted).
 * @throws NotRegularFileError or FileTooLargeError for a procfs that is not the kernel's, MapsParseError, and Node's errors (`ENOENT`, `EACCES`, …).
 */
export async function readMaps(pid: number, procRoot = "/proc"): Promise<Mapping[]> {
  const { bytes } = await readRegularFile(`${procRoot}/${pid}/maps`, { untilEof: true, maxBytes: MAPS_READ_LIMIT });
  return parseMaps(decoder.decode(bytes));
}

/**
 * The text of `/proc/PID/maps` (through thread `tid` of the process, given one:
 * `/proc/PID/task/TID/maps`), read as {@link readMaps} reads it but with blocking calls: the
 * kernel answers from memory, and one read costs less than the thread-pool round trips of the
 * asynchronous calls (tens of microseconds each on a busy machine).
 * @throws as {@link readMaps}, but for the parse.
 */
export function readMapsTextSync(pid: number, procRoot = "/proc", tid = pid): string {
  const path = tid === pid ? `${procRoot}/${pid}/maps` : `${procRoot}/${pid}/task/${tid}/maps`;
  const { bytes } = readRegularFileSync(path, { untilEof: true, maxBytes: MAPS_READ_LIMIT });
  return decoder.decode(bytes);
}

/** The (device, inode) identity of a mapping's file, comparable with `stat(…, { bigint: true })`. */
export function mappingIdentity(mapping: Mapping): FileIdentity {
  return { dev: deviceOf(mapping.major, mapping.minor), ino: mapping.inode };
}

/** Offset in the mapped file of `address`, which must lie in the mapping: `address - start + offset`. */
export function fileOffsetOf(mapping: Mapping, address: bigint): bigint {
  return address - mapping.start + mapping.offset;
}

/** The mapping containing `address` in `mappings` (sorted by start, as maps prints them), by binary search. */
export function findMapping(mappings: readonly Mapping[], address: bigint): Mapping | undefined {
  let lo = 0;
  let hi = mappings.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (mappings[mid]!.end <= address) lo = mid + 1;
    else hi = mid;
  }
  const m = mappings[lo];
  return m !== undefined && m.start <= address ? m : undefined;
}

/** `/proc/PID/map_files/` entry of a mapping: a link to the very file mapped, even if deleted or in another mount namespace. */
export function mapFilesPath(pid: number, mapping: Mapping, procRoot = "/proc"): string {
  return `${procRoot}/${pid}/map_files/${mapping.start.toString(16)}-${mapping.end.toString(16)}`;
}
