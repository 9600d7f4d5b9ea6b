/**
 * The vdso's build ID. The kernel maps one vdso image per ABI into every process, so a resolver
 * reads it once: from its own `/proc/self/mem` at its own `[vdso]` range, or, for a target whose
 * vdso differs in size (another ABI, e.g. a 32-bit process), from the target's `/proc/PID/mem`
 * where access allows. Reads are bounded by the mapping's size.
 *
 * @packageDocumentation
 */
import { type BuildIdInfo, readBuildId } from "../elf.js";
import { type Mapping, readMaps } from "./maps.js";
import { readRegularFile } from "./safe-open.js";

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
