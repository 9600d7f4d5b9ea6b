// Finding an artifact (executable, debuginfo, one section) among the files the index holds for a build ID,
// as elfutils' server picks it; shared by the server and the client's local step.
import { type BigIntStats, closeSync } from "node:fs";
import { NotUnderRootError, openUnderRootSync, SymlinkRefusedError } from "../files/under-root.js";
import { FileChangedError, NotRegularFileError } from "../safe-open.js";
import type { BuildIdIndex, IndexedFile } from "./build-id-index.js";
import { HELD_MAX_BYTES, type HeldFiles } from "./held-files.js";
import { fdReader } from "./reads.js";
import { readElfLayout, sectionWithBytes } from "./sections.js";

/** What a debuginfod URL or `find` asks for. */
export type Artifact = "executable" | "debuginfo" | "section";

/** The artifact types, in the order the web API lists them. */
export const ARTIFACTS: readonly Artifact[] = Object.freeze(["executable", "debuginfo", "section"]);

/** An indexed file opened and found unchanged since the scan. @internal */
export interface OpenedArtifact {
  /** Open descriptor; the caller closes it unless {@link OpenedArtifact.held}. */
  fd: number;
  /** The {@link HeldFiles} whose own the descriptor is: not closed by the caller, and read before yielding. */
  held?: HeldFiles;
  /** The file as indexed. */
  file: IndexedFile;
  /** File offset of the artifact's bytes (a section's offset, else 0). */
  start: number;
  /** Its length in bytes. */
  length: number;
}

/**
 * What became of a candidate: its descriptor, or why not: changed in place since the scan (same
 * device and inode), gone (no file, or another one, at its path), or refused (a link on its way). @internal
 */
export type Opened = number | "changed" | "gone" | "refused";

/** Whether `stat` has the size, mtime and ctime the scan recorded for `file`. @internal */
export function sameStamp(stat: BigIntStats, file: IndexedFile): boolean {
  return stat.size === file.size && stat.mtimeNs === file.mtimeNs && stat.ctimeNs === file.ctimeNs;
}

/** Opens an indexed file under its root, only if it is still the file the scan read: same device, inode, size, mtime and ctime. @internal */
export function openUnchanged(file: IndexedFile): Opened {
  let opened: ReturnType<typeof openUnderRootSync>;
  try {
    opened = openUnderRootSync(file.root, file.path, { expect: { dev: file.dev, ino: file.ino } });
  } catch (error) {
    if (error instanceof SymlinkRefusedError || error instanceof NotUnderRootError) return "refused";
    const code = (error as NodeJS.ErrnoException).code;
    return error instanceof FileChangedError ||
      error instanceof NotRegularFileError ||
      code === "ENOENT" ||
      code === "ENOTDIR"
      ? "gone"
      : "changed";
  }
  const { fd, stat } = opened;
  if (sameStamp(stat, file)) return fd;
  closeSync(fd);
  return "changed";
}

/**
 * The first unchanged indexed file holding the artifact, opened under its root: newest first; for
 * a section, debuginfo files before executables, skipping files where it is absent, `SHT_NOBITS`
 * or not wholly inside the file. Otherwise how many candidates had changed in place since the scan,
 * how many were gone (checked here, on open: no file or another file at the path) and how many
 * were refused (a symbolic link on the way from their root); none changed: the index has no such
 * artifact. With `held`, files of at most {@link HELD_MAX_BYTES} are opened through it. @internal
 */
export function openArtifact(
  index: Pick<BuildIdIndex, "lookup">,
  id: string,
  artifact: Artifact,
  section: string,
  held?: HeldFiles,
): OpenedArtifact | { changed: number; gone: number; refused: number } {
  const files = index.lookup(id);
  const candidates =
    artifact === "executable"
      ? files.filter((f) => f.executable)
      : artifact === "debuginfo"
        ? files.filter((f) => f.debuginfo)
        : [...files.filter((f) => f.debuginfo), ...files.filter((f) => !f.debuginfo && f.executable)];
  let changed = 0;
  let gone = 0;
  let refused = 0;
  for (const file of candidates) {
    const size = Number(file.size);
    const through = size <= HELD_MAX_BYTES ? held : undefined;
    const fd = through ? through.open(file) : openUnchanged(file);
    if (fd === "changed") changed++;
    else if (fd === "gone") gone++;
    else if (fd === "refused") refused++;
    if (typeof fd !== "number") continue;
    if (artifact !== "section") return { fd, held: through, file, start: 0, length: size };
    try {
      const found = sectionWithBytes(readElfLayout(fdReader(fd), size), section, size);
      if (found) return { fd, held: through, file, start: found.offset, length: found.size };
    } catch {}
    if (!through) closeSync(fd);
  }
  return { changed, gone, refused };
}
