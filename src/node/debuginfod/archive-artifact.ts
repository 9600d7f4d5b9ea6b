// An artifact (executable, debuginfo, one section) of an ELF member of an archive, opened through the
// member cache: what the server sends for an index entry that lives in a package.
import { closeSync } from "node:fs";
import { openUnderRootSync, ProcfsMissingError } from "../files/under-root.js";
import type { ArchiveStamp } from "./archive.js";
import { archiveHeaders, archiveStamp, sameStamp } from "./archive.js";
import type { Artifact } from "./artifact.js";
import type { BuildIdIndex } from "./build-id-index.js";
import { KIND } from "./file-table.js";
import { ArchiveMemberCache } from "./member-cache.js";
import { fdReader } from "./reads.js";
import { readElfLayout, sectionWithBytes } from "./sections.js";
import { canonicalSourcePath } from "./sources.js";

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

const newer = (a: bigint, b: bigint): number => (a > b ? 1 : a < b ? -1 : 0);

// elfutils' sharedprefix(): how many leading characters `a` and `b` have in common.
function sharedPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * The members of the package archives an index holds, opened through a member cache made on first
 * use (archives are opened from their root, never through a link, and only while unchanged since
 * the scan): what `serve` answers from when no plain file holds an artifact, as elfutils' `-U`/`-R`.
 */
export class IndexedMembers {
  readonly #index: BuildIdIndex;
  #cache: Promise<ArchiveMemberCache> | undefined;

  /** @param index the index whose member rows are served. */
  constructor(index: BuildIdIndex) {
    this.#index = index;
  }

  /**
   * The first member holding the artifact (for a section: debuginfo members before executables),
   * with its `Last-Modified` in ms; `undefined` when none does or none can be read now.
   */
  async open(
    id: string,
    artifact: Artifact,
    section = "",
  ): Promise<(OpenedArchivedArtifact & { mtimeMs: number }) | undefined> {
    const rows = this.#index.members(id);
    const has = (bit: number) => rows.filter((r) => (r.kind & bit) !== 0);
    const candidates =
      artifact === "executable"
        ? has(KIND.EXECUTABLE)
        : artifact === "debuginfo"
          ? has(KIND.DEBUGINFO)
          : [...has(KIND.DEBUGINFO), ...rows.filter((r) => (r.kind & KIND.DEBUGINFO) === 0)];
    if (candidates.length === 0) return undefined;
    const cache = await this.#memberCache();
    for (const row of candidates) {
      const [dev, ino, size, mtimeNs, ctimeNs] = row.archive.stamp as [bigint, bigint, bigint, bigint, bigint];
      const file = {
        archive: row.archive.path,
        stamp: { dev, ino, size, mtimeNs, ctimeNs },
        member: row.member,
        size: row.size,
      };
      try {
        // Checked on every request: a kept copy of a member outlives its archive.
        if (!this.#unchanged(row.archive.root, file.archive, file.stamp)) continue;
        const opened = await openArchivedArtifact(cache, file, artifact, section);
        if (opened) return { ...opened, mtimeMs: row.mtimeS * 1000 };
      } catch (error) {
        if (error instanceof ProcfsMissingError) throw error;
      }
    }
    return undefined;
  }

  /**
   * The source `path` (as a `/source` request names it, matched as given or canonicalised) from a
   * member of any indexed archive, when a debuginfo member of `id` names it, as elfutils' `-U`/`-R`
   * answer: the archive sharing the longest prefix of its path with an archive holding `id` first,
   * then the newest. `undefined` when none does or none can be read now.
   */
  async openSource(id: string, path: string): Promise<(OpenedArchivedArtifact & { mtimeMs: number }) | undefined> {
    const buildId = Buffer.from(id, "hex");
    const rows = this.#index.database.archivedSourcesOf(buildId, [...new Set([path, canonicalSourcePath(path)])]);
    const holders = rows.length === 0 ? [] : this.#index.members(id).map((m) => m.archive.path);
    if (holders.length === 0) return undefined;
    const score = (archive: string) => Math.max(-1, ...holders.map((h) => sharedPrefix(archive, h)));
    const ranked = rows
      .map((row) => ({ row, score: score(row.archive.path) }))
      .sort((a, b) => b.score - a.score || newer(b.row.archive.stamp[3]!, a.row.archive.stamp[3]!));
    const cache = await this.#memberCache();
    for (const { row } of ranked) {
      const [dev, ino, size, mtimeNs, ctimeNs] = row.archive.stamp as [bigint, bigint, bigint, bigint, bigint];
      const stamp = { dev, ino, size, mtimeNs, ctimeNs };
      try {
        if (!this.#unchanged(row.archive.root, row.archive.path, stamp)) continue;
        const fd = await cache.open(row.archive.path, stamp, row.member, row.size);
        const headers = archiveHeaders(row.archive.path, row.member);
        return { fd, start: 0, length: row.size, headers, mtimeMs: row.mtimeS * 1000 };
      } catch (error) {
        if (error instanceof ProcfsMissingError) throw error;
      }
    }
    return undefined;
  }

  // Whether the archive at `path` is still there, under its root, with the stamp it was indexed with.
  #unchanged(root: string, path: string, stamp: ArchiveStamp): boolean {
    const { fd, stat } = openUnderRootSync(root, path, { expect: { dev: stamp.dev, ino: stamp.ino } });
    closeSync(fd);
    return sameStamp(archiveStamp(stat), stamp);
  }

  #memberCache(): Promise<ArchiveMemberCache> {
    this.#cache ??= ArchiveMemberCache.create({
      openArchive: (path, expect) => {
        const row = this.#index.database.fileAt(path);
        if (!row) throw Object.assign(new Error(`${path}: no longer indexed`), { code: "ENOENT" });
        return openUnderRootSync(row.root, path, { expect });
      },
    });
    return this.#cache;
  }

  /** Removes the extracted members. */
  async dispose(): Promise<void> {
    if (this.#cache) await (await this.#cache).dispose();
  }
}
