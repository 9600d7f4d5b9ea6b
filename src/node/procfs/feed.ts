/**
 * The `/proc` side of the address-space model: reads of `/proc/PID/maps` (with who the process was,
 * from `/proc/PID/stat`) turned into the model's events. A process's first read is a snapshot; each
 * later read is told apart from the one before by {@link mapsEvents}, and only what changed is sent
 * (unmaps, then maps), so an unchanged mapping keeps the time it was first seen; another program in
 * the process (an `exec`: same start time, new layout) is a `comm` event with `exec` and a snapshot;
 * another process with the same PID (a new start time) is an `exit`, a `fork` and a snapshot.
 *
 * @packageDocumentation
 */
import type {
  AddressSpaces,
  MapEvent,
  MappingFields,
  Mapping as SpaceMapping,
  UnmapEvent,
} from "../../spaces/index.js";
import type { Mapping } from "./maps.js";
import type { ProcessIdentity } from "./proc-stat.js";

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;
const MAP_SHARED = 1;
const MAP_PRIVATE = 2;

/**
 * The model's fields of a maps line: `PROT_*` bits from its permissions, `MAP_SHARED` or
 * `MAP_PRIVATE`, and its file by (device, inode) (generation unknown), or, for a kernel-named
 * region or anonymous memory, a pseudo file named by the path.
 */
export function mappingFields(line: Mapping): MappingFields {
  return {
    start: line.start,
    length: line.end - line.start,
    pgoff: line.offset,
    prot: (line.read ? PROT_READ : 0) | (line.write ? PROT_WRITE : 0) | (line.exec ? PROT_EXEC : 0),
    flags: line.shared ? MAP_SHARED : MAP_PRIVATE,
    path: line.path,
    file:
      line.kind === "file"
        ? { kind: "inode", major: line.major, minor: line.minor, inode: line.inode }
        : { kind: "pseudo" },
  };
}

/** Both lines describe the same mapping of the same file. */
function sameLine(a: Mapping, b: Mapping): boolean {
  return (
    a === b ||
    (a.start === b.start &&
      a.end === b.end &&
      a.perms === b.perms &&
      a.offset === b.offset &&
      a.inode === b.inode &&
      a.major === b.major &&
      a.minor === b.minor &&
      a.path === b.path &&
      a.deleted === b.deleted)
  );
}

/**
 * The events that turn `before` (a read of `pid`'s maps) into `after` (a later one), at `time`:
 * an unmap for each line of `before` that `after` does not have, then a map for each line of
 * `after` that `before` did not have. Both must be sorted by start, as maps prints them.
 */
export function mapsEvents(
  pid: number,
  time: bigint,
  before: readonly Mapping[],
  after: readonly Mapping[],
): (UnmapEvent | MapEvent)[] {
  const unmaps: UnmapEvent[] = [];
  const maps: MapEvent[] = [];
  const unmap = (m: Mapping) => unmaps.push({ type: "unmap", time, pid, start: m.start, length: m.end - m.start });
  const map = (m: Mapping) => maps.push({ type: "map", time, pid, tid: pid, ...mappingFields(m) });
  let i = 0;
  let j = 0;
  while (i < before.length || j < after.length) {
    const old = before[i];
    const now = after[j];
    if (now === undefined || (old !== undefined && old.start < now.start)) {
      unmap(old!);
      i++;
    } else if (old === undefined || now.start < old.start) {
      map(now);
      j++;
    } else {
      if (!sameLine(old, now)) {
        unmap(old);
        map(now);
      }
      i++;
      j++;
    }
  }
  return [...unmaps, ...maps];
}

/** What a read told about a process, from {@link ProcFeed.read}. */
export type ReadOutcome =
  /** First read of the process (or the first after {@link ProcFeed.exited}): a snapshot. */
  | "new"
  /** Same process and program: the changes, if any, as unmaps and maps. */
  | "same"
  /** The process ran a new program (`exec`): a new space. */
  | "exec"
  /** Another process has the PID: the old one's space ended, the new one's began. */
  | "reused";

interface Fed {
  identity: ProcessIdentity;
  lines: readonly Mapping[];
}

/**
 * Feeds an {@link AddressSpaces} from reads of `/proc`, and remembers which maps line each of the
 * model's mappings came from ({@link lineOf}), as `name` gave it when the mapping was new. Times are
 * the caller's, in the model's units, and must not go back; lines must be sorted and must not
 * overlap (as `parseMaps` returns them).
 */
export class ProcFeed {
  /** The model fed. */
  readonly spaces: AddressSpaces;
  readonly #fed = new Map<number, Fed>();
  readonly #lines = new WeakMap<SpaceMapping, { line: Mapping; seenAt: number }>();
  readonly #name: (pid: number, line: Mapping) => Mapping;

  /**
   * @param spaces the model to feed; the feed should be the only thing feeding it.
   * @param name the line kept for a new mapping, called once per mapping, right after its read
   *   (the resolver settles ambiguous names there); default the line as read.
   */
  constructor(spaces: AddressSpaces, name: (pid: number, line: Mapping) => Mapping = (_, line) => line) {
    this.spaces = spaces;
    this.#name = name;
  }

  /**
   * Applies a read of `pid`'s maps, `lines`, made at `time` by the process `identity` says it was
   * (the very array of the read before, unchanged, costs nothing). `seenAt` is when the read began on
   * the realtime clock (`Date.now()`), kept for each mapping the read shows first ({@link ProcFeed.seenAt}).
   * @throws SpaceEventError as `AddressSpaces.apply` does (a time that went back); the model is
   *   then left as the last event that applied made it.
   */
  read(
    pid: number,
    time: bigint,
    identity: ProcessIdentity,
    lines: readonly Mapping[],
    seenAt: number = Date.now(),
  ): ReadOutcome {
    const fed = this.#fed.get(pid);
    const space = this.spaces.space(pid);
    const live = fed !== undefined && space !== undefined && space.endedAt === undefined;
    let outcome: ReadOutcome;
    if (!live) {
      outcome = "new";
    } else if (fed.identity.startTime !== identity.startTime) {
      outcome = "reused";
      this.spaces.apply({ type: "exit", time, pid, tid: pid });
      this.spaces.apply({
        type: "fork",
        time,
        pid,
        ppid: identity.ppid,
        tid: pid,
        ptid: identity.ppid,
        synthesized: true,
      });
    } else if (fed.identity.layout !== identity.layout) {
      outcome = "exec";
      this.spaces.apply({ type: "comm", time, pid, tid: pid, comm: identity.comm, exec: true });
    } else {
      outcome = "same";
    }
    if (outcome !== "same") this.spaces.apply({ type: "snapshot", time, pid, mappings: lines.map(mappingFields) });
    else if (fed!.lines === lines) return outcome;
    else for (const e of mapsEvents(pid, time, fed!.lines, lines)) this.spaces.apply(e);
    this.#fed.set(pid, { identity, lines });
    this.#remember(pid, lines, seenAt);
    return outcome;
  }

  /** `pid` was found gone at `time`: its space ends (and still answers for times before). */
  exited(pid: number, time: bigint): void {
    const space = this.spaces.space(pid);
    if (this.#fed.delete(pid) && space !== undefined && space.endedAt === undefined)
      this.spaces.apply({ type: "exit", time, pid, tid: pid });
  }

  /** The maps line the model's `mapping` came from (for a mapping this feed made). */
  lineOf(mapping: SpaceMapping): Mapping | undefined {
    return this.#lines.get(mapping)?.line;
  }

  /**
   * When the model's `mapping` was first seen (the start of the read that first showed it, realtime
   * clock, ms): its file was live and mapped then, so no other file had its inode number.
   */
  seenAt(mapping: SpaceMapping): number | undefined {
    return this.#lines.get(mapping)?.seenAt;
  }

  /** Who `pid` was at its last read, while its space lives. */
  identity(pid: number): ProcessIdentity | undefined {
    return this.#fed.get(pid)?.identity;
  }

  // Pairs the space's new mappings with the lines they came from, both in address order.
  #remember(pid: number, lines: readonly Mapping[], seenAt: number): void {
    const space = this.spaces.space(pid);
    if (space === undefined) return;
    let i = 0;
    for (const m of space.mappings()) {
      if (this.#lines.has(m)) continue;
      while (i < lines.length && lines[i]!.start < m.start) i++;
      if (i < lines.length && lines[i]!.start === m.start)
        this.#lines.set(m, { line: this.#name(pid, lines[i]!), seenAt });
    }
  }
}
