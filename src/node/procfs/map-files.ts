/**
 * The file behind a mapping, reached through the mapping itself: `/proc/PID/map_files/START-END` is
 * a link the kernel resolves to the very file mapped at exactly that range (deleted, or in another
 * mount namespace, alike). Whatever it says is about the range now:
 *
 * - the entry names the mapping's (device, inode): the range still maps that file;
 * - the entry is gone (`ENOENT`) or names another file: the range changed (an `munmap`, a
 *   `dlclose` and a `dlopen` over part of it, an `mmap(MAP_FIXED)`): the maps must be read again,
 *   never the file looked for at its old path, where the old file may well still be;
 * - following the link is not permitted (`EPERM`, `EACCES`: it takes `CAP_SYS_ADMIN` or
 *   `CAP_CHECKPOINT_RESTORE`, while `readlink` takes only ptrace read access): the range is checked
 *   by name with `readlink`, and the file reached by its path, checked by (device, inode).
 *
 * Calls here are blocking on purpose: procfs answers them from memory, and each costs less than one
 * thread-pool round trip. `stat` and `readlink` open nothing, so nothing here can block on a FIFO.
 *
 * @packageDocumentation
 */
import { type BigIntStats, readlinkSync, statSync } from "node:fs";
import { errorCode, isDenied } from "../errno.js";
import { sameIdentity } from "../identity.js";
import { fileKind } from "../safe-open.js";
import { hasAmbiguousName, type Mapping, mapFilesPath, mappingIdentity } from "./maps.js";

/** What a mapping's `map_files/` entry says about its range now; see the module comment. */
export type RangeCheck =
  /** The range maps the file still: its `stat`, through the entry. */
  | { kind: "file"; stat: BigIntStats; path: string }
  /** The entry names the mapping's file, but it is not a regular file (a device, a FIFO). */
  | { kind: "not-regular"; detail: string }
  /** The range maps something else now, or nothing. */
  | { kind: "changed"; detail: string }
  /** The kernel will not follow the entry for us; `named` tells whether `readlink` still shows the mapping's name there. */
  | { kind: "denied"; detail: string; named: boolean };

const DELETED = " (deleted)";

/** How the kernel prints a name in maps: a newline as `\012`. */
function printed(name: string): string {
  return name.replaceAll("\n", "\\012");
}

/** What `readlink` of the entry should show for the mapping, as maps printed it. */
function shownName(mapping: Mapping): string {
  return printed(mapping.path) + (mapping.deleted ? DELETED : "");
}

/** Checks the range of `mapping` in process `pid` through its `map_files/` entry: one `stat`, two when not permitted. */
export function checkRange(pid: number, mapping: Mapping, procRoot: string): RangeCheck {
  const path = mapFilesPath(pid, mapping, procRoot);
  let stat: BigIntStats | undefined;
  try {
    stat = statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    const code = errorCode(error);
    if (!isDenied(code)) return { kind: "changed", detail: `${path}: ${code}` };
    const named = nameAt(path);
    if (named === undefined || printed(named) !== shownName(mapping))
      return { kind: "changed", detail: `${path}: ${code}, and readlink shows ${JSON.stringify(named ?? "nothing")}` };
    return { kind: "denied", detail: `${path}: ${code}`, named: true };
  }
  if (stat === undefined) return { kind: "changed", detail: `${path} is gone: the range was unmapped or remapped` };
  if (!sameIdentity(stat, mappingIdentity(mapping)))
    return { kind: "changed", detail: `${path} is another file than the maps named` };
  if (!stat.isFile()) return { kind: "not-regular", detail: `${path} is a ${fileKind(stat)}, not a regular file` };
  return { kind: "file", stat, path };
}

/** The target `readlink` shows for a `map_files/` entry, or `undefined` when it cannot be read. */
function nameAt(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Where else the mapping's file may be reached when its `map_files/` entry may not be followed:
 * through the process's root, then by the path in this mount namespace (a deleted file has none).
 */
export function fallbackPaths(pid: number, mapping: Mapping, procRoot: string): string[] {
  return mapping.deleted ? [] : [`${procRoot}/${pid}/root${mapping.path}`, mapping.path];
}

/**
 * `mapping` with its exact name where the maps line is ambiguous ({@link hasAmbiguousName}): a
 * literal `\012` is told from a newline by `readlink` of the `map_files/` entry (which prints the
 * name raw), and a file really named `x (deleted)` from a deleted `x` by finding that name, with the
 * mapping's (device, inode), in the process's root. Where neither can be read, the maps line's
 * reading stands. Unambiguous lines come back as they are.
 */
export function exactName(pid: number, mapping: Mapping, procRoot: string): Mapping {
  if (mapping.kind !== "file" || !hasAmbiguousName(mapping)) return mapping;
  const raw = nameAt(mapFilesPath(pid, mapping, procRoot));
  // Another name than the line printed means the range changed since: the line's reading stands.
  if (raw === undefined || printed(raw) !== shownName(mapping)) return mapping;
  if (!raw.endsWith(DELETED)) return { ...mapping, path: raw };
  let literal: BigIntStats | undefined;
  try {
    literal = statSync(`${procRoot}/${pid}/root${raw}`, { bigint: true, throwIfNoEntry: false });
  } catch {
    return mapping;
  }
  if (literal !== undefined && sameIdentity(literal, mappingIdentity(mapping)))
    return { ...mapping, path: raw, deleted: false };
  return { ...mapping, path: raw.slice(0, -DELETED.length), deleted: true };
}
