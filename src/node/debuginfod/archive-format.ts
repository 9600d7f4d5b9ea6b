/**
 * Which package archive a file name says, apart from archive.ts so that a scan worker tells archives
 * by name without loading their readers and decoders.
 *
 * @packageDocumentation
 */

/** The kinds of archive read. */
export type ArchiveFormat = "deb" | "rpm";

const FORMATS: Record<string, ArchiveFormat> = { ".deb": "deb", ".ddeb": "deb", ".rpm": "rpm" };

/** The archive format a file name says (`.deb`, `.ddeb`, `.rpm`, as elfutils' `-U` and `-R` pick them), or `undefined`. */
export function archiveFormat(path: string): ArchiveFormat | undefined {
  const dot = path.lastIndexOf(".");
  return dot < 0 ? undefined : FORMATS[path.slice(dot)];
}
