/**
 * The vdso's build ID. The kernel maps one vdso image per ABI into every process, so a resolver
 * reads it once per ABI: from its own `/proc/self/mem` at its own `[vdso]` range, or, for a target
 * of another ABI (its executable's ELF class, byte order or machine differ: a 32-bit or x32
 * process), from the target's `/proc/PID/mem` where access allows. Reads are bounded by the
 * mapping's size.
 *
 * @packageDocumentation
 */
import { type BuildIdInfo, hasElfMagic, readBuildId } from "../../elf.js";
import { readRegularFile } from "../safe-open.js";
import { type Mapping, readMaps } from "./maps.js";

/** Most bytes read for a vdso: it is two pages on x86-64, a few more elsewhere. */
export const VDSO_READ_LIMIT = 1024 * 1024;

/** The kernel's name for the vdso mapping in maps. */
export const VDSO_NAME = "[vdso]";

/**
 * The build ID of the vdso image mapped at `mapping` by the process whose memory is `memPath`.
 * @throws ElfError when the bytes are not an ELF object with a build ID, and Node's errors when `memPath` cannot be read.
 */
export async function readVdsoAt(memPath: string, mapping: Mapping): Promise<BuildIdInfo> {
  const length = Number(mapping.end - mapping.start);
  const { bytes } = await readRegularFile(memPath, {
    range: { position: mapping.start, length },
    maxBytes: VDSO_READ_LIMIT,
  });
  return readBuildId(bytes);
}

/** This process's own `[vdso]` mapping, or `undefined` when it has none. */
export async function ownVdso(): Promise<Mapping | undefined> {
  return (await readMaps(process.pid)).find((m) => m.path === VDSO_NAME);
}

/**
 * The ABI of the ELF executable at `path` (e.g. `/proc/PID/exe`) as `class:byte order:machine`
 * from its first 20 bytes, or `undefined` when it is not ELF.
 * @throws Node's errors and safe-open's when the file cannot be read.
 */
export async function elfAbi(path: string): Promise<string | undefined> {
  const { bytes } = await readRegularFile(path, { range: { position: 0n, length: 20 } });
  if (bytes.length < 20 || !hasElfMagic(bytes)) return undefined;
  const machine = bytes[5] === 2 ? (bytes[18]! << 8) | bytes[19]! : bytes[18]! | (bytes[19]! << 8);
  return `${bytes[4]}:${bytes[5]}:${machine}`;
}
