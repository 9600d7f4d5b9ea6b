// Finding an artifact (executable, debuginfo, one section) among the files the index holds for a build ID,
// as elfutils' server picks it; shared by the server and the client's local step.
import { closeSync } from "node:fs";
import { openRegularSync } from "../safe-open.js";
import type { BuildIdIndex, IndexedFile } from "./build-id-index.js";
import { fdReader } from "./reads.js";
import { readElfLayout, sectionWithBytes } from "./sections.js";

/** What a debuginfod URL or `find` asks for. */
export type Artifact = "executable" | "debuginfo" | "section";

/** The artifact types, in the order the web API lists them. */
export const ARTIFACTS: readonly Artifact[] = Object.freeze(["executable", "debuginfo", "section"]);

/** An indexed file opened and found unchanged since the scan. @internal */
export interface OpenedArtifact {
  /** Open descriptor; the caller closes it. */
  fd: number;
  /** The file as indexed. */
  file: IndexedFile;
  /** File offset of the artifact's bytes (a section's offset, else 0). */
  start: number;
  /** Its length in bytes. */
  length: number;
}

// Opens an indexed file only if it is still the file the scan read: same device, inode, size, mtime and ctime.
function openUnchanged(file: IndexedFile): number | undefined {
  let opened: ReturnType<typeof openRegularSync>;
  try {
    opened = openRegularSync(file.path, { expect: { dev: file.dev, ino: file.ino } });
  } catch {
    return undefined;
  }
  const { fd, stat } = opened;
  if (stat.size === file.size && stat.mtimeNs === file.mtimeNs && stat.ctimeNs === file.ctimeNs) return fd;
  closeSync(fd);
  return undefined;
}

/**
 * The first unchanged indexed file holding the artifact: newest first; for a section, debuginfo
 * files before executables, skipping files where it is absent or `SHT_NOBITS`. Otherwise how many
 * candidates had changed since the scan (0: the index has no such artifact). @internal
 */
export function openArtifact(
  index: BuildIdIndex,
  id: string,
  artifact: Artifact,
  section: string,
): OpenedArtifact | { changed: number } {
  const files = index.lookup(id);
  const candidates =
    artifact === "executable"
      ? files.filter((f) => f.executable)
      : artifact === "debuginfo"
        ? files.filter((f) => f.debuginfo)
        : [...files.filter((f) => f.debuginfo), ...files.filter((f) => !f.debuginfo && f.executable)];
  let changed = 0;
  for (const file of candidates) {
    const fd = openUnchanged(file);
    if (fd === undefined) {
      changed++;
      continue;
    }
    if (artifact !== "section") return { fd, file, start: 0, length: Number(file.size) };
    try {
      const found = sectionWithBytes(readElfLayout(fdReader(fd), Number(file.size)), section);
      if (found) return { fd, file, start: found.offset, length: found.size };
    } catch {}
    closeSync(fd);
  }
  return { changed };
}
