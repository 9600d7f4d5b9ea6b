// One entry of a package payload (a tar or cpio member) as the readers hand it on, and its name.

/** One entry of a payload as the walk meets it. @internal */
export interface PayloadEntry {
  /** Canonical name (leading `/`), or `undefined` when refused. */
  member: string | undefined;
  /** A regular file (not a directory, link, device or FIFO). */
  regular: boolean;
  /** Size in bytes. */
  size: number;
  /** Modification time, seconds. */
  mtime: number;
  /** Its bytes; read them to the end or not at all. */
  body: AsyncIterable<Uint8Array>;
}

/** Elfutils' name for a member: one leading `/`; `undefined` for a name with a `..` component or a NUL. @internal */
export function canonicalMember(name: string): string | undefined {
  if (name.includes("\0")) return undefined;
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return undefined;
  return `/${parts.join("/")}`;
}
