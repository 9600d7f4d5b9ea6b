// Finding an artifact (executable, debuginfo, one section) among the files the index holds for a build ID,
// as elfutils' server picks it; shared by the server and the client's local step.
import { closeSync } from "node:fs";
import { NotUnderRootError, openUnderRootSync, SymlinkRefusedError } from "../files/under-root.js";
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

/** What became of a candidate: its descriptor, or why not: changed since the scan, or refused (a link on its way, under no root). */
type Opened = number | "changed" | "refused";

// Opens an indexed file under its root, only if it is still the file the scan read: same device, inode, size, mtime and ctime.
function openUnchanged(index: BuildIdIndex, file: IndexedFile): Opened {
  const root = index.rootOf(file.path);
  if (root === undefined) return "refused";
  let opened: ReturnType<typeof openUnderRootSync>;
  try {
    opened = openUnderRootSync(root, file.path, { expect: { dev: file.dev, ino: file.ino } });
  } catch (error) {
    return error instanceof SymlinkRefusedError || error instanceof NotUnderRootError ? "refused" : "changed";
  }
  const { fd, stat } = opened;
  if (stat.size === file.size && stat.mtimeNs === file.mtimeNs && stat.ctimeNs === file.ctimeNs) return fd;
  closeSync(fd);
  return "changed";
}

/**
 * The first unchanged indexed file holding the artifact, opened under its root: newest first; for
 * a section, debuginfo files before executables, skipping files where it is absent, `SHT_NOBITS`
 * or not wholly inside the file. Otherwise how many candidates had changed since the scan and how
 * many were refused (a symbolic link on the way from their root, or under no root); none changed:
 * the index has no such artifact. @internal
 */
export function openArtifact(
  index: BuildIdIndex,
  id: string,
  artifact: Artifact,
  section: string,
): OpenedArtifact | { changed: number; refused: number } {
  const files = index.lookup(id);
  const candidates =
    artifact === "executable"
      ? files.filter((f) => f.executable)
      : artifact === "debuginfo"
        ? files.filter((f) => f.debuginfo)
        : [...files.filter((f) => f.debuginfo), ...files.filter((f) => !f.debuginfo && f.executable)];
  let changed = 0;
  let refused = 0;
  for (const file of candidates) {
    const fd = openUnchanged(index, file);
    if (fd === "changed") changed++;
    else if (fd === "refused") refused++;
    if (typeof fd !== "number") continue;
    const size = Number(file.size);
    if (artifact !== "section") return { fd, file, start: 0, length: size };
    try {
      const found = sectionWithBytes(readElfLayout(fdReader(fd), size), section, size);
      if (found) return { fd, file, start: found.offset, length: found.size };
    } catch {}
    closeSync(fd);
  }
  return { changed, refused };
}
