/**
 * Node forms of the ELF build-ID reader: drive {@link parseBuildId} over a file handle (or, blocking,
 * a descriptor), reading only the ranges it asks for (ELF header, program headers, note data; section
 * headers when needed), a page at a time.
 *
 * @packageDocumentation
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import {
  type BuildIdInfo,
  type ElfChunk,
  ElfError,
  type ElfRange,
  parseBuildId,
  type ReadBuildIdOptions,
} from "../elf.js";
import { openRegular, openRegularSync } from "./safe-open.js";

/** Bytes read per miss: one page holds the headers and usual notes of a linked binary, so most files take one read. */
export const ELF_READ_AHEAD = 4096;

/** Options for {@link readBuildIdFromFile}. */
export interface ReadBuildIdFileOptions extends ReadBuildIdOptions {
  /** The file's size when the caller already has it (e.g. from `stat`), which saves an `fstat`. */
  size?: number;
}

/** A read the window needs: `length` bytes into `buffer` (from its start) at file offset `position`. */
interface ReadPlan {
  buffer: Uint8Array;
  length: number;
  position: number;
}

/** The last range read from the file, serving the parser's requests that fall inside it; the reads themselves are the driver's. */
class ReadWindow {
  private buffer = new Uint8Array(ELF_READ_AHEAD);
  private view = new DataView(this.buffer.buffer);
  private start = 0;
  private end = 0;

  constructor(private readonly size: number) {}

  /** The range's bytes if the window holds them. */
  hit({ offset, length }: ElfRange): ElfChunk | undefined {
    if (offset < this.start || offset + length > this.end) return undefined;
    return { view: this.view, at: offset - this.start };
  }

  /** The read that brings `range` and up to a page after it into the window. */
  miss({ offset, length }: ElfRange): ReadPlan {
    const want = Math.min(Math.max(length, ELF_READ_AHEAD), this.size - offset);
    if (want > this.buffer.length) {
      this.buffer = new Uint8Array(want);
      this.view = new DataView(this.buffer.buffer);
    }
    this.start = offset;
    this.end = offset;
    return { buffer: this.buffer, length: want, position: offset };
  }

  /** Records that the planned read got `got` bytes and returns the range's bytes. */
  filled(range: ElfRange, got: number): ElfChunk {
    this.end = this.start + got;
    const chunk = this.hit(range);
    if (chunk) return chunk;
    throw new ElfError(
      "TRUNCATED",
      `read ${got} of ${range.length} bytes at 0x${range.offset.toString(16)}: the file shrank below its size of 0x${this.size.toString(16)} bytes`,
    );
  }
}

async function readPlan(handle: FileHandle, plan: ReadPlan): Promise<number> {
  let got = 0;
  while (got < plan.length) {
    const { bytesRead } = await handle.read(plan.buffer, got, plan.length - got, plan.position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

function readPlanSync(fd: number, plan: ReadPlan): number {
  let got = 0;
  while (got < plan.length) {
    const bytesRead = readSync(fd, plan.buffer, got, plan.length - got, plan.position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

function withPath(e: unknown, file: string | FileHandle | number): unknown {
  return e instanceof ElfError && typeof file === "string" ? new ElfError(e.code, `${file}: ${e.message}`) : e;
}

/**
 * Reads the GNU build ID of an ELF file by path or open handle; see {@link parseBuildId} for what is
 * accepted. Reads only the ranges the parser needs, a page at a time. A handle passed in is left open.
 * A path is opened through `openRegular` (safe-open.ts): a FIFO, device or directory is refused
 * unread with `NotRegularFileError`, and nothing can block. Throws {@link ElfError} for bad ELF
 * content (its message prefixed with the path when given one) and the usual Node errors (`ENOENT`,
 * `EACCES`) when the file cannot be opened.
 *
 * @example
 * ```ts
 * const { buildId } = await readBuildIdFromFile("/usr/bin/ls");
 * ```
 */
export async function readBuildIdFromFile(
  file: string | FileHandle,
  options: ReadBuildIdFileOptions = {},
): Promise<BuildIdInfo> {
  const opened = typeof file === "string" ? await openRegular(file) : undefined;
  const handle = opened?.handle ?? (file as FileHandle);
  try {
    const size = options.size ?? Number(opened?.stat.size ?? (await handle.stat()).size);
    const window = new ReadWindow(size);
    const steps = parseBuildId(size, options);
    let step = steps.next();
    while (!step.done) {
      const range = step.value;
      const chunk = window.hit(range) ?? window.filled(range, await readPlan(handle, window.miss(range)));
      step = steps.next(chunk);
    }
    return step.value;
  } catch (e) {
    throw withPath(e, file);
  } finally {
    if (handle !== file) await handle.close();
  }
}

/**
 * {@link readBuildIdFromFile} with blocking system calls, by path or file descriptor: no thread-pool
 * round trips, so several times faster per file, at the cost of blocking the event loop for each read.
 * A descriptor passed in is left open.
 */
export function readBuildIdFromFileSync(file: string | number, options: ReadBuildIdFileOptions = {}): BuildIdInfo {
  const opened = typeof file === "string" ? openRegularSync(file) : undefined;
  const fd = opened?.fd ?? (file as number);
  try {
    const size = options.size ?? Number(opened?.stat.size ?? fstatSync(fd).size);
    const window = new ReadWindow(size);
    const steps = parseBuildId(size, options);
    let step = steps.next();
    while (!step.done) {
      const range = step.value;
      const chunk = window.hit(range) ?? window.filled(range, readPlanSync(fd, window.miss(range)));
      step = steps.next(chunk);
    }
    return step.value;
  } catch (e) {
    throw withPath(e, file);
  } finally {
    if (fd !== file) closeSync(fd);
  }
}
