#!/usr/bin/env node
// The buildid-cache command's entry: Node keeps the code it compiles for the command between runs where
// it can (22.1+), then the program (./program.ts) runs. Imported, not static: those modules are compiled
// when they are linked, so the cache must be on before the first of them is.
import { lstatSync, mkdirSync, statSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";

/**
 * The user's cache folder ($XDG_CACHE_HOME, else ~/.cache), never the working tree nor a /tmp another
 * user could fill first; undefined when it is not an absolute path, cannot be made a folder, or is not
 * the user's alone: Node runs the code it reads there and opens its entries blocking (a FIFO hangs it).
 */
function compileCacheDir(): string | undefined {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg?.startsWith("/") ? xdg : `${homedir()}/.cache`;
  if (!base.startsWith("/")) return undefined;
  const dir = `${base}/buildid-cache/node-compile-cache`;
  // One level at a time: Node's recursive mkdir, enableCompileCache's too, spins forever where mkdir
  // answers ENOENT under a parent that exists (HOME=/proc), on Node 20, 22 and 24.
  for (const level of [base, `${base}/buildid-cache`, dir]) {
    try {
      mkdirSync(level, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return undefined;
    }
  }
  const uid = process.getuid?.();
  // Where another user could rename or replace our folder: written by all, and no sticky bit (/tmp has one).
  const open = statSync(base, { throwIfNoEntry: false });
  if (open === undefined || ((open.mode & 0o002) !== 0 && (open.mode & 0o1000) === 0)) return undefined;
  // Our two levels: real folders (not links), the user's, written by nobody else.
  for (const level of [`${base}/buildid-cache`, dir]) {
    const own = lstatSync(level, { throwIfNoEntry: false });
    if (!own?.isDirectory() || (uid !== undefined && own.uid !== uid) || (own.mode & 0o022) !== 0) return undefined;
  }
  return dir;
}

// Feature-detected (Node 20 has none); a folder that cannot be made or written leaves the cache off
// and the command as it was. NODE_COMPILE_CACHE and NODE_DISABLE_COMPILE_CACHE decide first.
const withCache = module as { enableCompileCache?(dir: string): unknown };
if (withCache.enableCompileCache !== undefined) {
  const dir = compileCacheDir();
  if (dir !== undefined) withCache.enableCompileCache(dir);
}

await import("./program.js");
