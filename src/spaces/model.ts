/**
 * The address-space model: every process's mappings over time, fed by events in time order, asked
 * which mapping held an address. See {@link AddressSpaces}.
 *
 * @module
 */
import { instance, integer, room, u64 } from "../check.js";
import { describe } from "../describe.js";
import { checkEvent, eventName, sortedMappings } from "./check.js";
import { SpaceEventError } from "./errors.js";
import {
  type CommEvent,
  type ExitEvent,
  type ForkEvent,
  KERNEL_PID,
  type MapEvent,
  type MappingFields,
  type SnapshotEvent,
  type SpaceEvent,
  type UnmapEvent,
} from "./events.js";
import { copyFileRef, FileTable, isAnonymousPath } from "./files.js";
import {
  answerChunk,
  CHUNK_BITS,
  CHUNK_MAX,
  type Chunk,
  type FlatTree,
  flatTreeBytes,
  HI,
  Layout,
  type LayoutChange,
  LO,
  layoutOf,
  locate,
  locateMany,
  type Mapping,
  missed,
  replaceAll,
  replaceRange,
} from "./layout.js";
import { type Lookup, LookupResults, LookupStatus, type LookupStatusCode, lookupFailure } from "./lookup.js";
import { type AddressSpace, Space, type SpaceEnd } from "./space.js";

/** Fewest addresses of one lookup that search a layout's flat tree (building it on first use). */
const FLAT_BATCH = 16;

/** Bounds on what the model holds; every one has a default. */
export interface AddressSpacesOptions {
  /**
   * Spaces held at most, live and ended (the kernel's is not counted), 1 to 2^24; default 16,384.
   * Past it the model evicts a space: an ended one first (the earliest ended), else the live one
   * fed least recently. Lookups in an evicted space answer `no-process`, and so do those in what
   * that process maps afterwards, until a fork or an exec starts its pid afresh: the model missed
   * its events meanwhile (an exit of its last thread among them).
   */
  maxProcesses?: number;
  /**
   * Mappings one space holds at most, 1 to 2^24; default 65,536 (the kernel's own `vm.max_map_count`
   * default is 65,530). A change that would pass it empties the space first, keeping only the new
   * mapping, and marks it {@link AddressSpace.incomplete}.
   */
  maxMappingsPerSpace?: number;
  /**
   * Memory the held mappings are reckoned to take, in bytes (`MAPPING_BYTES` a mapping plus 2 a path character;
   * mappings shared by forked spaces counted once), with the search trees batches built (one per
   * layout searched: forked spaces that changed apart each have their own), 1 to 2^40; default 128 MiB.
   * Past it the model first forgets search trees (those not searched lately, by CLOCK: only speed is
   * lost), then evicts spaces as for `maxProcesses`, then empties the space just fed, then the
   * kernel's. A batch whose tree would not fit even without the others searches the chunks instead.
   */
  maxBytes?: number;
  /** Files remembered with their ids, 1 to 2^24; default 16,384 (the least recently mapped is forgotten). */
  maxFiles?: number;
  /**
   * Ended spaces kept per pid, so samples taken before an exit, exec or PID reuse still resolve,
   * 0 to 1,024; default 4.
   */
  keepEnded?: number;
}

/** What the model holds and has done. */
export interface AddressSpacesStats {
  /** Live spaces held (the kernel's not counted). */
  processes: number;
  /** Ended spaces held. */
  ended: number;
  /** Mappings held, shared ones counted once. */
  mappings: number;
  /** What the held mappings and the search trees built for them are reckoned to take, in bytes (see `maxBytes`). */
  bytes: number;
  /** Files remembered. */
  files: number;
  /** Events applied. */
  events: number;
  /** Spaces evicted by `maxProcesses` or `maxBytes`. */
  evicted: number;
  /** Spaces emptied by `maxMappingsPerSpace` or `maxBytes`. */
  resets: number;
}

const DEFAULTS: Required<AddressSpacesOptions> = {
  maxProcesses: 16_384,
  maxMappingsPerSpace: 65_536,
  maxBytes: 128 * 2 ** 20,
  maxFiles: 16_384,
  keepEnded: 4,
};

const PID_MAX = 2 ** 31 - 1;

/**
 * Every process's address space, fed by {@link SpaceEvent}s in time order (perf's, or the `/proc`
 * side's) and asked which mapping held an address at a given time.
 *
 * - Events must come in time order per space: one older than the last event applied to a space it
 *   touches is refused with a {@link SpaceEventError} `OUT_OF_ORDER`, and nothing changes. Ordering
 *   the stream (perf's rounds) is the caller's job.
 * - A new mapping replaces what it overlaps; a fork copies the parent's space (sharing it until
 *   either changes); an exec ends the old program's space; the exit of a process's last thread ends
 *   its space; a new process with a used pid never sees the old one's mappings.
 * - A lookup with a time resolves against the space of that time, and only through a mapping that
 *   has held the address continuously since before that time: an answer is exact or a failure with
 *   a reason, never another file. Without a time it resolves against the space as it is now. A
 *   lookup at time t assumes every event before t was applied.
 *
 * Where it is stricter than perf (`util/machine.c`), because exactness is the promise:
 * - perf keeps a process's maps across an exec (the new program's maps overlay the old); here an
 *   exec ends the old space, so an address the new program has not mapped is `no-mapping`, not the
 *   old program's file.
 * - perf keeps exited threads' maps for late samples; here the exit of the last thread ends the
 *   space (the leader exiting first leaves it alive while threads known from fork events remain),
 *   and late samples are answered from the ended space only through their time.
 * - A fork perf synthesised for a running process (`synthesized`) copies nothing, as perf's
 *   `PERF_RECORD_MISC_FORK_EXEC` handling does. `clone(CLONE_VM)` without `CLONE_THREAD` (vfork)
 *   is a copy, as in perf: FORK records do not say the memory is shared.
 *
 * @example
 * ```ts
 * const spaces = new AddressSpaces();
 * spaces.apply({ type: "map", time: 1n, pid: 42, tid: 42, start: 0x400000n, length: 0x1000n, pgoff: 0n,
 *   prot: 5, flags: 2, path: "/usr/bin/true", file: { kind: "inode", major: 8, minor: 1, inode: 99n } });
 * const r = spaces.lookup(42, 0x400123n, 2n); // { ok: true, fileId: 0, fileOffset: 0x123n, ... }
 * ```
 */
export class AddressSpaces {
  readonly #options: Required<AddressSpacesOptions>;
  /** Each pid's newest space. */
  readonly #byPid = new Map<number, Space>();
  /** Pids whose live space was evicted, until a fork or an exec starts them afresh (at most `maxProcesses`; past it, every pid counts). */
  readonly #evictedLive = new Set<number>();
  #evictedLiveOverflow = false;
  /** Live spaces, the least recently fed first. */
  readonly #live = new Set<Space>();
  /** Ended spaces, the earliest ended first. */
  readonly #ended = new Set<Space>();
  readonly #kernel: Space;
  readonly #files: FileTable;
  #mappings = 0;
  #bytes = 0;
  #events = 0;
  #evicted = 0;
  #resets = 0;
  /** Held layouts with a search tree counted in {@link #bytes}, in CLOCK order (see {@link #forgetTrees}). */
  readonly #trees = new Set<Layout>();
  /** What the trees in {@link #trees} are counted at. */
  #treeBytes = 0;
  readonly #one = new LookupResults(1);
  readonly #oneAddress = new BigUint64Array(1);
  readonly #oneWords = new Uint32Array(this.#oneAddress.buffer);
  #lastAddresses: BigUint64Array | undefined;
  #lastWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

  /** @param options bounds on what the model holds; each option is checked, with the bad value named. */
  constructor(options: AddressSpacesOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const o = { ...DEFAULTS, ...options };
    integer("maxProcesses", o.maxProcesses, 1, 2 ** 24);
    integer("maxMappingsPerSpace", o.maxMappingsPerSpace, 1, 2 ** 24);
    integer("maxBytes", o.maxBytes, 1, 2 ** 40);
    integer("maxFiles", o.maxFiles, 1, 2 ** 24);
    integer("keepEnded", o.keepEnded, 0, 1024);
    this.#options = o;
    this.#files = new FileTable(o.maxFiles);
    this.#kernel = new Space(KERNEL_PID, 0n, "", Layout.of([]));
    this.#hold(this.#kernel.layout);
  }

  /**
   * Applies one event. Throws, changing nothing, for a malformed event (`TypeError`, `RangeError`)
   * or one the model refuses ({@link SpaceEventError}).
   */
  apply(event: SpaceEvent): void {
    checkEvent(event);
    let fed: Space | undefined;
    switch (event.type) {
      case "map":
        fed = this.#map(event);
        break;
      case "unmap":
        fed = this.#unmap(event);
        break;
      case "fork":
        fed = this.#fork(event);
        break;
      case "comm":
        fed = this.#comm(event);
        break;
      case "exit":
        fed = this.#exit(event);
        break;
      case "snapshot":
        fed = this.#snapshot(event);
        break;
    }
    this.#events++;
    this.#enforce(fed);
  }

  /**
   * Which mapping held `address` in `pid`'s space at `time` (omitted: now), as one object. For
   * many addresses, {@link lookupMany} answers without allocating.
   */
  lookup(pid: number, address: bigint, time?: bigint): Lookup {
    u64("address", address);
    this.#oneAddress[0] = address;
    const out = this.#one;
    const space = this.lookupMany(pid, this.#oneAddress, out, time);
    const status = out.status[0] as LookupStatusCode;
    const mapping = out.mapping[0];
    if (status === LookupStatus.OK) {
      return { ok: true, space: space!, mapping: mapping!, fileId: out.fileId[0]!, fileOffset: out.fileOffset[0]! };
    }
    return { ok: false, reason: lookupFailure(status)!, space, mapping };
  }

  /**
   * Looks up `addresses[from, to)` in `pid`'s space at `time` (omitted: now), writing each answer at
   * the same index of `out`. Returns the space looked in, or `undefined` when there was none (every
   * status then says why). Allocates nothing per address; the first batch of 16 or more addresses
   * in a layout builds its search tree (at most two nodes of `FLAT_NODE_BYTES` per mapping), kept
   * with it and counted against `maxBytes`.
   */
  lookupMany(
    pid: number,
    addresses: BigUint64Array,
    out: LookupResults,
    time?: bigint,
    from = 0,
    to: number = addresses?.length,
  ): AddressSpace | undefined {
    integer("pid", pid, KERNEL_PID, PID_MAX);
    instance("addresses", addresses, BigUint64Array);
    instance("out", out, LookupResults);
    if (time !== undefined) u64("time", time);
    integer("from", from, 0, addresses.length);
    integer("to", to, from, addresses.length);
    room("out", out.status, to);
    const status = out.status;
    const fileIds = out.fileId;
    const offsets = out.offsetWords;
    const found = out.mapping;
    const slots = out.slot;
    const space = this.#select(pid, time);
    if (typeof space === "number") {
      status.fill(space, from, to);
      fileIds.fill(-1, from, to);
      offsets.fill(0, 2 * from, 2 * to);
      found.fill(undefined, from, to);
      slots.fill(-1, from, to);
      out.layout = undefined;
      return undefined;
    }
    const words = this.#wordsOf(addresses);
    const layout = space.layout;
    out.layout = layout;
    const uncovered = space.incomplete ? LookupStatus.INCOMPLETE : LookupStatus.NO_MAPPING;
    // A batch pays for the flat tree (built once per layout); a few addresses search the chunks.
    const flat = to - from >= FLAT_BATCH ? this.#tree(layout) : null;
    if (flat !== null) locateMany(layout, flat, words, from, to, out, uncovered);
    else {
      for (let i = from; i < to; i++) {
        const hi = words[2 * i + HI]!;
        const lo = words[2 * i + LO]!;
        answerChunk(layout, locate(layout, hi, lo), hi, lo, out, i, uncovered);
      }
    }
    if (time !== undefined) {
      const timeHi = Number(time >> 32n);
      const timeLo = Number(time & 0xffffffffn);
      for (let i = from; i < to; i++) {
        const at = slots[i]!;
        if (at >= 0 && after(layout.chunks[at >>> CHUNK_BITS]!.sinces, at & (CHUNK_MAX - 1), timeHi, timeLo)) {
          missed(out, i, LookupStatus.CHANGED);
        }
      }
    }
    if (out.perAddress) {
      for (let i = from; i < to; i++) {
        const at = slots[i]!;
        const m = at >= 0 ? layout.mappingAt(at) : undefined;
        fileIds[i] = m === undefined ? -1 : m.fileId;
        found[i] = m;
      }
    }
    return space;
  }

  /** `pid`'s newest space, live or ended; `undefined` when none is held. */
  space(pid: number): AddressSpace | undefined {
    integer("pid", pid, KERNEL_PID, PID_MAX);
    return pid === KERNEL_PID ? this.#kernel : this.#byPid.get(pid);
  }

  /** The kernel's space ({@link KERNEL_PID}). */
  get kernel(): AddressSpace {
    return this.#kernel;
  }

  /** Each pid's newest space, live or ended, the kernel's not included. */
  spaces(): IterableIterator<AddressSpace> {
    return this.#byPid.values();
  }

  /** What the model holds and has done. */
  stats(): AddressSpacesStats {
    return {
      processes: this.#live.size,
      ended: this.#ended.size,
      mappings: this.#mappings,
      bytes: this.#bytes,
      files: this.#files.size,
      events: this.#events,
      evicted: this.#evicted,
      resets: this.#resets,
    };
  }

  // ---- events ---------------------------------------------------------------------------------

  #map(e: MapEvent): Space {
    const head = this.#head(e.pid);
    this.#inOrder(e, head);
    this.#files.checkRoom(1);
    const mapping = this.#mapping(e, e.time);
    const space = isLive(head) ? head : this.#born(e.pid, e.time, "", Layout.of([]));
    this.#change(space, replaceRange(space.layout, mapping.start, mapping.end, mapping), [mapping]);
    this.#fed(space, e.time);
    return space;
  }

  #unmap(e: UnmapEvent): Space | undefined {
    const head = this.#head(e.pid);
    this.#inOrder(e, head);
    if (!isLive(head)) return undefined;
    this.#change(head, replaceRange(head.layout, e.start, e.start + e.length, undefined), []);
    this.#fed(head, e.time);
    return head;
  }

  #fork(e: ForkEvent): Space {
    const head = this.#byPid.get(e.pid);
    if (e.pid === e.ppid) {
      this.#inOrder(e, head);
      const thread = e.tid === e.pid ? 0 : 1;
      if (isLive(head)) {
        head.threads += thread;
        this.#fed(head, e.time);
        return head;
      }
      const space = this.#born(e.pid, e.time, "", Layout.of([]));
      space.threads = thread;
      return space;
    }
    const parent = this.#byPid.get(e.ppid);
    const liveParent = isLive(parent) ? parent : undefined;
    this.#inOrder(e, head, liveParent);
    if (e.synthesized && isLive(head)) {
      this.#fed(head, e.time);
      return head;
    }
    const copy = e.synthesized ? undefined : liveParent;
    if (isLive(head)) this.#end(head, e.time, "reused");
    const child = this.#born(e.pid, e.time, liveParent?.comm ?? "", copy?.layout ?? Layout.of([]), !e.synthesized);
    // A copy of what an evicted process's rest holds is no surer than that rest.
    if (copy?.continuesEvicted) child.continuesEvicted = true;
    child.incomplete = copy?.incomplete ?? false;
    if (liveParent !== undefined) this.#fed(liveParent, e.time);
    return child;
  }

  #comm(e: CommEvent): Space {
    const head = this.#byPid.get(e.pid);
    this.#inOrder(e, head);
    if (isLive(head)) {
      if (!e.exec) {
        head.comm = e.comm;
        this.#fed(head, e.time);
        return head;
      }
      this.#end(head, e.time, "exec");
    }
    return this.#born(e.pid, e.time, e.comm, Layout.of([]), e.exec);
  }

  #exit(e: ExitEvent): Space | undefined {
    const head = this.#byPid.get(e.pid);
    this.#inOrder(e, head);
    if (!isLive(head)) return undefined;
    if (e.tid === e.pid) head.leaderExited = true;
    else if (head.threads > 0) head.threads--;
    if (head.leaderExited && head.threads === 0) this.#end(head, e.time, "exit");
    else this.#fed(head, e.time);
    return head;
  }

  #snapshot(e: SnapshotEvent): Space {
    const head = this.#head(e.pid);
    this.#inOrder(e, head);
    const sorted = sortedMappings(e, e.mappings);
    this.#files.checkRoom(sorted.length);
    const mappings = sorted.map((m) => this.#mapping(m, e.time));
    const space = isLive(head) ? head : this.#born(e.pid, e.time, "", Layout.of([]));
    space.incomplete = false;
    const kept = mappings.slice(0, this.#options.maxMappingsPerSpace);
    this.#change(space, replaceAll(space.layout, layoutOf(mappings)), kept);
    this.#fed(space, e.time);
    return space;
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  #head(pid: number): Space | undefined {
    return pid === KERNEL_PID ? this.#kernel : this.#byPid.get(pid);
  }

  /** Refuses `e` if it is older than the last event of any of `spaces`. */
  #inOrder(e: SpaceEvent, ...spaces: (Space | undefined)[]): void {
    for (const space of spaces) {
      if (space !== undefined && e.time < space.updatedAt) {
        throw new SpaceEventError(
          "OUT_OF_ORDER",
          `${eventName(e)} is older than the last event of pid ${space.pid}'s space, at ${space.updatedAt}`,
        );
      }
    }
  }

  #mapping(m: MappingFields, time: bigint): Mapping {
    const anonymous = m.file.kind !== "build-id" && isAnonymousPath(m.path);
    const entry = anonymous ? undefined : this.#files.intern(m.file, m.path);
    return {
      start: m.start,
      end: m.start + m.length,
      pgoff: m.pgoff,
      prot: m.prot,
      flags: m.flags,
      path: m.path,
      file: entry?.file ?? copyFileRef(m.file),
      fileId: entry?.id ?? -1,
      anonymous,
      since: time,
    };
  }

  /** A new newest space for `pid`; the one before it, if any, has ended. */
  #born(pid: number, time: bigint, comm: string, layout: Layout, fresh = false): Space {
    const space = new Space(pid, time, comm, layout);
    if (fresh) this.#evictedLive.delete(pid);
    else space.continuesEvicted = this.#evictedLiveOverflow || this.#evictedLive.has(pid);
    this.#hold(layout);
    const older = this.#byPid.get(pid);
    if (older !== undefined) {
      space.older = older;
      older.newer = space;
    }
    this.#byPid.set(pid, space);
    this.#live.add(space);
    this.#keepEnded(space);
    return space;
  }

  #end(space: Space, time: bigint, end: SpaceEnd): void {
    space.endedAt = time;
    space.end = end;
    space.updatedAt = time;
    this.#live.delete(space);
    this.#ended.add(space);
    this.#keepEnded(space);
  }

  /** Drops the pid's ended spaces past `keepEnded`, counting from `newest`. */
  #keepEnded(newest: Space): void {
    let kept = 0;
    for (let s: Space | undefined = newest; s !== undefined; ) {
      const older: Space | undefined = s.older;
      if (s.endedAt !== undefined && ++kept > this.#options.keepEnded) this.#drop(s);
      s = older;
    }
  }

  /** Records that `space` was fed at `time`: the last event it saw, and the most recently fed. */
  #fed(space: Space, time: bigint): void {
    space.updatedAt = time;
    if (this.#live.delete(space)) this.#live.add(space);
  }

  /**
   * Gives `space` the changed layout (none: no change); if that is over `maxMappingsPerSpace`, a
   * layout of only `kept` instead.
   */
  #change(space: Space, change: LayoutChange | undefined, kept: readonly Mapping[]): void {
    if (change === undefined) return;
    const old = space.layout;
    let { layout, added, removed } = change;
    if (layout.size > this.#options.maxMappingsPerSpace) {
      ({ layout, added, removed } = replaceAll(old, layoutOf(kept)));
      space.incomplete = true;
      this.#resets++;
    }
    space.layout = layout;
    if (old.refs > 1) {
      this.#hold(layout);
      this.#letGo(old);
      return;
    }
    // The old layout was this space's alone: the new one takes over its hold, and only the chunks that changed are counted.
    old.refs = 0;
    this.#forgetTree(old);
    layout.refs = 1;
    for (const chunk of added) this.#holdChunk(chunk);
    for (const chunk of removed) this.#letGoChunk(chunk);
  }

  /**
   * `layout`'s search tree, built when it fits within `maxBytes` (after forgetting other layouts'
   * trees, those not searched lately first); `null` when it does not, or cannot be built.
   */
  #tree(layout: Layout): FlatTree | null {
    layout.searched = true;
    if (layout.flatBuilt) return layout.flat();
    const bytes = flatTreeBytes(layout.size);
    const maxBytes = this.#options.maxBytes;
    if (this.#bytes - this.#treeBytes + bytes > maxBytes) return null;
    this.#forgetTrees(maxBytes - bytes);
    const tree = layout.flat();
    if (tree !== null) {
      this.#trees.add(layout);
      this.#bytes += bytes;
      this.#treeBytes += bytes;
    }
    return tree;
  }

  /**
   * Forgets search trees until at most `bytes` are counted (or none is left), by CLOCK: a tree
   * searched since it was last passed goes to the back with its mark cleared, any other is forgotten.
   */
  #forgetTrees(bytes: number): void {
    const trees = this.#trees;
    // A tree moved to the back is met again in this same loop (a Set's iteration sees what is added), unmarked then.
    for (const layout of trees) {
      if (this.#bytes <= bytes) return;
      if (layout.searched) {
        layout.searched = false;
        trees.delete(layout);
        trees.add(layout);
      } else {
        this.#forgetTree(layout);
      }
    }
  }

  #forgetTree(layout: Layout): void {
    if (!this.#trees.delete(layout)) return;
    const bytes = flatTreeBytes(layout.size);
    this.#bytes -= bytes;
    this.#treeBytes -= bytes;
    layout.dropFlat();
  }

  #hold(layout: Layout): void {
    if (layout.refs++ === 0) for (const chunk of layout.chunks) this.#holdChunk(chunk);
  }

  #letGo(layout: Layout): void {
    if (--layout.refs > 0) return;
    this.#forgetTree(layout);
    for (const chunk of layout.chunks) this.#letGoChunk(chunk);
  }

  #holdChunk(chunk: Chunk): void {
    if (chunk.refs++ > 0) return;
    this.#mappings += chunk.mappings.length;
    this.#bytes += chunk.bytes;
  }

  #letGoChunk(chunk: Chunk): void {
    if (--chunk.refs > 0) return;
    this.#mappings -= chunk.mappings.length;
    this.#bytes -= chunk.bytes;
  }

  /** Forgets `space`: its layout is let go and it leaves its pid's chain. */
  #drop(space: Space): void {
    this.#letGo(space.layout);
    space.layout = Layout.of([]);
    this.#live.delete(space);
    this.#ended.delete(space);
    const { older, newer } = space;
    if (older !== undefined) older.newer = newer;
    if (newer !== undefined) newer.older = older;
    else if (older !== undefined) this.#byPid.set(space.pid, older);
    else this.#byPid.delete(space.pid);
    space.older = undefined;
    space.newer = undefined;
  }

  /** Evicts one space other than `keep`: an ended one first, else the live one fed least recently. */
  #evictOne(keep: Space | undefined): boolean {
    let victim: Space | undefined = this.#ended.values().next().value;
    if (victim === undefined) {
      for (const space of this.#live) {
        if (space !== keep) {
          victim = space;
          break;
        }
      }
    }
    if (victim === undefined) return false;
    if (victim.endedAt === undefined) {
      if (this.#evictedLive.size < this.#options.maxProcesses) this.#evictedLive.add(victim.pid);
      else this.#evictedLiveOverflow = true;
    }
    this.#drop(victim);
    this.#evicted++;
    return true;
  }

  /** Brings the model back within `maxProcesses` and `maxBytes` after an event that fed `fed`. */
  #enforce(fed: Space | undefined): void {
    const { maxProcesses, maxBytes } = this.#options;
    let room = true;
    while (room && this.#live.size + this.#ended.size > maxProcesses) room = this.#evictOne(fed);
    this.#forgetTrees(maxBytes);
    while (room && this.#bytes > maxBytes) room = this.#evictOne(fed);
    for (const space of [fed, this.#kernel]) {
      if (this.#bytes <= maxBytes) return;
      if (space === undefined || space.layout.size === 0) continue;
      this.#change(space, replaceAll(space.layout, Layout.of([])), []);
      space.incomplete = true;
      this.#resets++;
    }
  }

  /** The space of `pid` at `time` (omitted: its newest), or the status saying why there is none. */
  #select(pid: number, time: bigint | undefined): Space | LookupStatusCode {
    const selected = this.#selectSpace(pid, time);
    return typeof selected !== "number" && selected.continuesEvicted ? LookupStatus.NO_PROCESS : selected;
  }

  #selectSpace(pid: number, time: bigint | undefined): Space | LookupStatusCode {
    let space = this.#head(pid);
    if (space === undefined) return LookupStatus.NO_PROCESS;
    if (time === undefined) return space.endedAt === undefined ? space : LookupStatus.EXITED;
    for (; space !== undefined; space = space.older) {
      if (space.bornAt > time) continue;
      if (space.endedAt === undefined || time < space.endedAt) return space;
      return space.end === "exit" ? LookupStatus.EXITED : LookupStatus.NO_PROCESS;
    }
    return LookupStatus.NO_PROCESS;
  }

  /** `addresses` as u32 words, the view made once per array. */
  #wordsOf(addresses: BigUint64Array): Uint32Array<ArrayBufferLike> {
    if (addresses === this.#oneAddress) return this.#oneWords;
    if (addresses !== this.#lastAddresses) {
      this.#lastAddresses = addresses;
      this.#lastWords = new Uint32Array(addresses.buffer, addresses.byteOffset, 2 * addresses.length);
    }
    return this.#lastWords;
  }
}

/** Mapping `j`'s time in `sinces` (words) is after the time `hi`:`lo`. */
function after(sinces: Uint32Array, j: number, hi: number, lo: number): boolean {
  const sinceHi = sinces[2 * j + HI]!;
  return sinceHi > hi || (sinceHi === hi && sinces[2 * j + LO]! > lo);
}

function isLive(space: Space | undefined): space is Space {
  return space !== undefined && space.endedAt === undefined;
}
