/**
 * Build IDs of the files a perf recording names, read on this machine, only for the exact file: a
 * mapped file is opened by its path (then through `/proc/PID/root/` while the process lives), its
 * device and inode, read from the open handle, must be the recording's, and its ctime must be before
 * the recording began (the inode was live then, so no other file has taken its number): `record`'s own
 * start, or for a saved recording the reference moment of its CLOCK_DATA (`perf record -k`). The vdso and
 * the kernel are read only for a recording made here and now (`live`): this process's vdso and
 * `/sys/kernel/notes`.
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import type { ReadBuildId } from "../convert/build-ids.js";
import { toHex } from "../hex.js";
import type { PerfClock } from "../perf/header.js";
import type { BuildIdAnswer } from "../pprof.js";
import type { FileRef, InodeFileRef } from "../spaces/index.js";
import { ownVdso, readVdsoAt, VDSO_NAME } from "./procfs/vdso.js";
import type { BuildIdResolver } from "./resolver/resolver.js";

/** Options of {@link recordedFileReader}. */
export interface RecordedFileOptions {
  /** The recording is being made on this machine now (`record`): the vdso and the kernel are this machine's. */
  live?: boolean;
  /** Where procfs is mounted; default `/proc`. */
  procRoot?: string;
  /**
   * Realtime (ms) no later than any event of the recording (`Date.now()` just before perf started, or
   * {@link recordingStartMs} of a saved one), or a function giving it when the first file is read (a
   * recording's features may come after its records): a file at a mapping's path is that mapping's
   * only when its ctime is not after it (within 10 ms). `undefined` from the function: no such moment.
   */
  recordedSince?: number | (() => number | undefined);
  /**
   * Without `recordedSince`, take a file at a mapping's path with the recording's (device, inode) as
   * the file recorded: accepts that a file made since may have taken a deleted file's inode number.
   */
  trustPaths?: boolean;
}

const NT_GNU_BUILD_ID = 3;
/** `/sys/kernel/notes` is a few hundred bytes; read at most this much. */
const NOTES_LIMIT = 64 * 1024;

/** The GNU build ID in a run of ELF notes (`/sys/kernel/notes`), native byte order. */
export function buildIdInNotes(notes: Uint8Array): string | undefined {
  const view = new DataView(notes.buffer, notes.byteOffset, notes.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const pad = (n: number) => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length; ) {
    const namesz = view.getUint32(at, little);
    const descsz = view.getUint32(at + 4, little);
    const type = view.getUint32(at + 8, little);
    const desc = at + 12 + pad(namesz);
    if (desc + descsz > notes.length) return undefined;
    const name = String.fromCharCode(...notes.subarray(at + 12, at + 12 + namesz));
    if (type === NT_GNU_BUILD_ID && name === "GNU\0" && descsz > 0) return toHex(notes, desc, descsz);
    at = desc + pad(descsz);
  }
  return undefined;
}

async function kernelBuildId(): Promise<BuildIdAnswer> {
  const notes = await readFile("/sys/kernel/notes").catch((error: NodeJS.ErrnoException) => error);
  if (notes instanceof Error) return { reason: `/sys/kernel/notes: ${notes.code ?? notes.message}` };
  return (
    buildIdInNotes(new Uint8Array(notes.subarray(0, NOTES_LIMIT))) ?? { reason: "/sys/kernel/notes has no build ID" }
  );
}

async function vdsoBuildId(): Promise<BuildIdAnswer> {
  const mapping = await ownVdso();
  if (mapping === undefined) return { reason: "this process has no vdso to read" };
  return (await readVdsoAt("/proc/self/mem", mapping)).buildId;
}

/**
 * The moment a saved recording began, realtime ms (rounded down), from its CLOCK_DATA feature: perf
 * reads the wall clock before it opens any event or reads any maps (record__init_clock), so every file
 * the recording names was live then or later. `undefined` without the feature, or when it names a
 * moment after `now` (no recording began in the future).
 */
export function recordingStartMs(clock: PerfClock | undefined, now = Date.now()): number | undefined {
  if (clock === undefined) return undefined;
  const ms = Number(clock.realtimeNs / 1_000_000n);
  return ms <= now ? ms : undefined;
}

async function inodeBuildId(
  resolver: () => Promise<BuildIdResolver>,
  file: InodeFileRef,
  path: string,
  pid: number,
  options: RecordedFileOptions,
): Promise<BuildIdAnswer> {
  if (!path.startsWith("/")) return { reason: `${path} is not an absolute path` };
  const since = typeof options.recordedSince === "function" ? options.recordedSince() : options.recordedSince;
  if (since === undefined && !options.trustPaths)
    return {
      reason: `no time to prove the file at ${path} is the one recorded (another may have taken its inode number): record with -k mono (the recording then says when it began), --buildid-mmap or perf inject -b, or pass --trust-paths`,
    };
  const candidates = [path];
  if (pid > 0) candidates.push(`${options.procRoot ?? "/proc"}/${pid}/root${path}`);
  const r = await (await resolver()).resolveIdentity(file, candidates, since);
  return r.ok ? r.buildId : { reason: r.detail };
}

/**
 * A {@link ReadBuildId} for the converter over `resolver` (files are read through its cache, once per
 * identity), for the exact file only: a mapped file is opened by its path (then through `/proc/PID/root/`
 * while the process lives), its device and inode, read from the open handle, must be the recording's,
 * and its ctime not after `recordedSince`; without that moment a mapped file is read only with
 * `trustPaths` (with it, the moment decides: `trustPaths` does not override a ctime after it). The vdso and the kernel are read only with `live` (a recording made here and now).
 * @param resolver the resolver, or a function making it, called once when the first file is read
 * (a recording that names every build ID itself then never starts the WebAssembly core)
 */
export function recordedFileReader(
  resolver: BuildIdResolver | (() => Promise<BuildIdResolver>),
  options: RecordedFileOptions = {},
): ReadBuildId {
  let made: Promise<BuildIdResolver> | undefined;
  const getResolver = () => {
    made ??= typeof resolver === "function" ? resolver() : Promise.resolve(resolver);
    return made;
  };
  return (file: FileRef, path: string, pid: number): Promise<BuildIdAnswer> => {
    if (file.kind === "inode") return inodeBuildId(getResolver, file, path, pid, options);
    if (!options.live) return Promise.resolve({ reason: "it is read only while recording on this machine (record)" });
    if (path === VDSO_NAME) return vdsoBuildId();
    if (path.startsWith("[kernel.kallsyms]")) return kernelBuildId();
    return Promise.resolve({ reason: `${path} is not a file` });
  };
}
