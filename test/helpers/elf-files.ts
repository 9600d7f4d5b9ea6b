// Finds the ELF files of this machine, for the readelf oracle and the ELF benchmark.
import { closeSync, type Dirent, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

/** Regular files (not symlinks) under `roots` whose first four bytes are the ELF magic. */
export function elfFiles(roots: readonly string[]): string[] {
  const found: string[] = [];
  const magic = Buffer.alloc(4);
  const walk = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable or missing directory
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && !path.includes("\n") && startsWithElfMagic(path, magic)) found.push(path);
    }
  };
  for (const root of roots) walk(root);
  return found;
}

function startsWithElfMagic(path: string, buffer: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false; // unreadable: readelf could not read it either
  }
  try {
    return readSync(fd, buffer, 0, 4, 0) === 4 && buffer.readUInt32BE(0) === 0x7f454c46;
  } finally {
    closeSync(fd);
  }
}
