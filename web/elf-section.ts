// Section 1: build IDs of ELF files, one row per file name.
import { type BuildIdInfo, ElfError, type ElfErrorCode, formatBytes } from "../src/index.js";
import type { PageContext } from "./context.js";
import { cell, element, make, plural } from "./dom.js";
import type { ElfRead, FileStore } from "./file-store.js";
import { acceptFiles, dropZone } from "./picker.js";

/** Headlines for the ELF reader's error codes; the error's own message follows with the details. */
const ELF_PROBLEMS: Record<ElfErrorCode, string> = {
  NOT_ELF: "Not an ELF file.",
  NO_BUILD_ID: "ELF file without a GNU build ID.",
  TRUNCATED: "Truncated ELF file.",
  BAD_HEADER: "Corrupt ELF header.",
  BAD_NOTE: "Corrupt ELF note.",
  LIMIT: "ELF file too large to scan.",
};

const MACHINES: Record<number, string> = {
  3: "i386",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "s390",
  40: "ARM",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

const NOTE_SOURCES: Record<BuildIdInfo["source"], string> = {
  "program-header": "PT_NOTE program header",
  section: "SHT_NOTE section",
};

/** Reads `files` into `store` and lists them; a file read again keeps its one row. */
async function addElfFiles(store: FileStore, files: File[], showStats: () => void): Promise<void> {
  if (files.length === 0) return;
  const status = element<HTMLElement>("#elf-status");
  status.textContent = `Reading ${plural(files.length, "file")}…`;
  const reads: ElfRead[] = [];
  for (const file of files) reads.push(await store.read(file));
  const table = element<HTMLTableElement>("#elf-table");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  for (const read of reads) if (!read.again) showRow(body, read);
  table.hidden = false;
  const { files: listed, withBuildId } = store.counts();
  const again = reads.filter((read) => read.again).map((read) => read.file.name);
  status.textContent =
    `${plural(listed, "file")} read: ${withBuildId} with a build ID, ${listed - withBuildId} without.` +
    (again.length > 0 ? ` Read before (same name, size and content), listed once: ${again.join(", ")}.` : "");
  showStats();
}

/** Puts `read`'s row in `body`, in place of the row of an earlier file of that name. */
function showRow(body: HTMLTableSectionElement, read: ElfRead): void {
  const earlier = [...body.rows].find((row) => row.dataset.file === read.file.name);
  const row = body.insertRow(earlier ? earlier.sectionRowIndex : -1);
  earlier?.remove();
  row.dataset.file = read.file.name;
  cell(row, read.file.name, "file").append(make("small", formatBytes(read.file.size)));
  const { outcome } = read;
  if ("error" in outcome) {
    row.className = "problem";
    const message = cell(row, "", "message");
    message.colSpan = 4;
    const code = outcome.error instanceof ElfError ? outcome.error.code : undefined;
    const headline = code === undefined ? "Could not read this file." : ELF_PROBLEMS[code];
    const detail = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    message.append(make("strong", headline), make("small", detail));
    return;
  }
  const { info } = outcome;
  const id = cell(row, "", "build-id");
  id.append(make("code", info.buildId));
  if (!outcome.cached) id.append(make("small", `${info.length} bytes: too long to cache`));
  const machine = MACHINES[info.machine] ?? `machine ${info.machine}`;
  cell(row, `ELF${info.elfClass}`, "elf-class").append(make("small", `${info.type}, ${machine}`));
  cell(row, info.endian === "little" ? "little-endian" : "big-endian", "endian");
  cell(row, NOTE_SOURCES[info.source], "source");
}

/** Wires section 1; returns what other sections call to add binaries to it. */
export function mountElfSection(store: FileStore, showStats: () => void): PageContext["addBinaries"] {
  const add = (files: File[]) => addElfFiles(store, files, showStats);
  acceptFiles(dropZone("elf"), add);
  return add;
}
