/**
 * Node's compile cache for the command (22.1+): what V8 compiled kept between runs in the user's cache
 * folder. One module for both ways in, the installed command's launcher (./launcher.ts) and
 * `node dist/node/cli.js` (./cli.ts), so the folder checks are written once.
 *
 * @packageDocumentation
 */
import { lstatSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";

/**
 * The user's cache folder ($XDG_CACHE_HOME, else ~/.cache), never the working tree nor a /tmp another
 * user could fill first; undefined when it is not an absolute path, cannot be made a folder, or is not
 * the user's alone: Node runs the code it reads there and opens its entries blocking (a FIFO hangs it).
 */
export function compileCacheDir(): string | undefined {
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

/**
 * Turns the compile cache on in {@link compileCacheDir} before the command's code is compiled: feature-detected
 * (Node 20 has none); a folder that cannot be made or written leaves it off and the command as it was;
 * NODE_COMPILE_CACHE and NODE_DISABLE_COMPILE_CACHE decide first. Once on, it stays: a second call (the
 * launcher's, then cli.js's) checks the folder again and Node answers ALREADY_ENABLED.
 */
export function enableCompileCache(): void {
  // Node 20 has none, and there node:module's public face loads Node's ES module loader (esm/loader, esm/assert).
  if (Number.parseInt(process.versions.node, 10) < 22) return;
  const withCache = process.getBuiltinModule("node:module") as { enableCompileCache?(dir: string): unknown };
  if (withCache.enableCompileCache === undefined) return;
  const dir = compileCacheDir();
  if (dir !== undefined) withCache.enableCompileCache(dir);
}
