// The launcher's way to require a data command's bundle (./launcher.ts). Node 22.1+ keeps what V8 compiled
// between runs itself (./compile-cache.ts); Node 20 has no such cache, so there a bundle is compiled through
// node:vm with V8's code cache, made once a run has compiled what the command runs (a cache made before the
// run holds only the top level) and kept beside Node 22's in compileCacheDir(), the user's own folder: V8
// runs what it reads there. On Node 20: `pprof` of a 1 MB -z recording 1,312 -> 1,269 M instructions,
// `buildid-list -H` of a 9 MB one 235 -> 206.
// V8 checks a cache's version, flags and the source's length, not its text nor (release builds) the cache's
// bytes: the bundle's device, inode, size, mtime and ctime and the cache's CRC-32 head the file, and a cache
// of another bundle or with another CRC is made again.
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { compileCacheDir } from "./compile-cache.js";

/** Larger than a bundle's cache (about 0.3 MB) by far; a file past it is not read. */
const MAX_CACHE = 16 * 1024 * 1024;

/** `name` (beside the launcher) as `require` gives it, through V8's code cache where Node has no compile cache of its own. */
export function requireBundle(name: string): unknown {
  if (Number.parseInt(process.versions.node, 10) >= 22 || process.env.NODE_DISABLE_COMPILE_CACHE) return require(name);
  const path = require.resolve(name);
  const fd = openSync(path, constants.O_RDONLY);
  let source: string;
  let key: string;
  try {
    const s = fstatSync(fd, { bigint: true });
    key = `${process.version} ${s.dev}:${s.ino} ${s.size} ${s.mtimeNs} ${s.ctimeNs}`;
    source = readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
  const dir = compileCacheDir();
  const folder = dir && `${dir}/${process.version}-${process.arch}-bundles`;
  const file = folder && `${folder}/${name.replace(/^.*\//, "")}`;
  const cachedData = file ? readCache(file, key) : undefined;
  const { Script } = process.getBuiltinModule("node:vm") as typeof import("node:vm");
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: path,
    ...(cachedData && { cachedData }),
  });
  if (folder && file && (cachedData === undefined || script.cachedDataRejected))
    process.once("exit", () => writeCache(folder, file, key, script.createCachedData()));
  // A module as require makes one, in require.cache: what the bundle requires resolves beside it.
  const Module = process.getBuiltinModule("node:module") as typeof import("node:module");
  const bundle = new Module(path, module);
  bundle.filename = path;
  require.cache[path] = bundle;
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    bundle.exports,
    bundle.exports,
    (id: string) => bundle.require(id),
    bundle,
    path,
    path.slice(0, path.lastIndexOf("/")),
  );
  bundle.loaded = true;
  return bundle.exports;
}

/** node:zlib's CRC-32 (Node 20.15+), which `pprof` loads anyway to write its profile. */
const crc32 = (data: Uint8Array): number | undefined =>
  (process.getBuiltinModule("node:zlib") as { crc32?: (data: Uint8Array) => number }).crc32?.(data);

/** The code cache in `file` if it is a regular file of the user's, made for the bundle `key` names, with its CRC. */
function readCache(file: string, key: string): Buffer | undefined {
  let fd: number;
  try {
    // Not blocking on a FIFO, not through a link; checked on the handle.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile() || s.uid !== process.getuid?.() || s.size > MAX_CACHE) return undefined;
    const bytes = readFileSync(fd);
    const end = bytes.indexOf(0x0a);
    const head = bytes.toString("latin1", 0, end);
    if (end < 0 || !head.startsWith(`${key} `)) return undefined;
    const data = bytes.subarray(end + 1);
    const crc = crc32(data);
    return crc !== undefined && head === `${key} ${crc}` ? data : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Writes `key` and `data` to `file` whole or not at all (a new file renamed over it); a failure leaves the cache off. */
function writeCache(folder: string, file: string, key: string, data: Buffer): void {
  const crc = crc32(data);
  if (crc === undefined) return;
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch {
    // There already, or the open below fails.
  }
  const part = `${file}.${process.pid}`;
  try {
    const fd = openSync(
      part,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      0o600,
    );
    try {
      writeSync(fd, Buffer.concat([Buffer.from(`${key} ${crc}\n`, "latin1"), data]));
    } finally {
      closeSync(fd);
    }
    renameSync(part, file);
  } catch {
    rmSync(part, { force: true });
  }
}
