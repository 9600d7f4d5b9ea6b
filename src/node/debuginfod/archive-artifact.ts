// An artifact (executable, debuginfo, one section) of an ELF member of an archive, opened through the
// member cache: what the server sends for an index entry that lives in a package.
import { closeSync } from "node:fs";
import type { ArchiveStamp } from "./archive.js";
import { archiveHeaders } from "./archive.js";
import type { Artifact } from "./artifact.js";
import type { ArchiveMemberCache } from "./member-cache.js";
import { fdReader } from "./reads.js";
import { readElfLayout, sectionWithBytes } from "./sections.js";

/** An ELF member of an archive as the index holds it. */
export interface ArchivedFile {
  /** The archive's path (the value of `X-DEBUGINFOD-ARCHIVE`). */
  archive: string;
  /** The archive's stamp when it was scanned. */
  stamp: ArchiveStamp;
  /** The member's name, one leading `/`. */
  member: string;
  /** The member's size in bytes. */
  size: number;
}

/** An archived artifact opened for sending. */
export interface OpenedArchivedArtifact {
  /** Read-only descriptor on the extracted member; the caller closes it. */
  fd: number;
  /** Offset of the artifact's bytes in it (a section's offset, else 0). */
  start: number;
  /** Length of the artifact in bytes. */
  length: number;
  /** `X-DEBUGINFOD-ARCHIVE` and `X-DEBUGINFOD-FILE`, as elfutils' server sends them. */
  headers: Record<string, string>;
}

/**
 * Opens `file`'s member through `cache` (extracting it on first use) and finds the artifact in it;
 * `undefined` for a section the member lacks or holds as `SHT_NOBITS`, or a member that is not ELF
 * as indexed. Executable and debuginfo are the whole member: which members qualify is the index's choice.
 * @throws {@link ArchiveError} as {@link ArchiveMemberCache.open} (`CHANGED` when the archive is not the one indexed).
 */
export async function openArchivedArtifact(
  cache: ArchiveMemberCache,
  file: ArchivedFile,
  artifact: Artifact,
  section = "",
): Promise<OpenedArchivedArtifact | undefined> {
  const fd = await cache.open(file.archive, file.stamp, file.member, file.size);
  const headers = archiveHeaders(file.archive, file.member);
  if (artifact !== "section") return { fd, start: 0, length: file.size, headers };
  try {
    const found = sectionWithBytes(readElfLayout(fdReader(fd), file.size), section, file.size);
    if (found) return { fd, start: found.offset, length: found.size, headers };
  } catch {}
  closeSync(fd);
  return undefined;
}
