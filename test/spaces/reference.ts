// A deliberately naive address-space model to check the real one against: per pid a list of
// generations, each an array of byte-interval assignments applied in order (a map assigns its
// range to a file, an unmap to nothing), searched backwards per lookup. No chunks, no sharing, no
// 32-bit halves, no trimming arithmetic: an address's file offset comes from the assignment itself.
import type { FileRef, SpaceEvent } from "../../src/spaces/index.js";
import { fileKey, isAnonymousPath, KERNEL_PID, LookupStatus } from "../../src/spaces/index.js";

/** What one map assigned. */
interface Assigned {
  start: bigint;
  pgoff: bigint;
  path: string;
  key: string;
  anonymous: boolean;
  time: bigint;
}

interface Assignment {
  start: bigint;
  end: bigint;
  /** `undefined`: unmapped. */
  to: Assigned | undefined;
}

interface Generation {
  bornAt: bigint;
  endedAt: bigint | undefined;
  end: "exit" | "exec" | "reused" | undefined;
  assignments: Assignment[];
  threads: number;
  leaderExited: boolean;
}

/** The reference's answer for one address. */
export interface RefAnswer {
  status: number;
  key?: string;
  path?: string;
  fileOffset?: bigint;
}

function assigned(m: { start: bigint; pgoff: bigint; path: string; file: FileRef }, time: bigint): Assigned {
  return {
    start: m.start,
    pgoff: m.pgoff,
    path: m.path,
    key: fileKey(m.file, m.path),
    anonymous: m.file.kind !== "build-id" && isAnonymousPath(m.path),
    time,
  };
}

export class Reference {
  readonly generations = new Map<number, Generation[]>();

  constructor() {
    this.generations.set(KERNEL_PID, [this.#generation(0n)]);
  }

  #generation(bornAt: bigint, assignments: Assignment[] = []): Generation {
    return { bornAt, endedAt: undefined, end: undefined, assignments, threads: 0, leaderExited: false };
  }

  #live(pid: number): Generation | undefined {
    const list = this.generations.get(pid);
    const newest = list?.[list.length - 1];
    return newest !== undefined && newest.endedAt === undefined ? newest : undefined;
  }

  #born(pid: number, g: Generation): Generation {
    const list = this.generations.get(pid) ?? [];
    list.push(g);
    this.generations.set(pid, list);
    return g;
  }

  #end(g: Generation, time: bigint, end: Generation["end"]): void {
    g.endedAt = time;
    g.end = end;
  }

  apply(e: SpaceEvent): void {
    const live = this.#live(e.pid);
    switch (e.type) {
      case "map": {
        const g = live ?? this.#born(e.pid, this.#generation(e.time));
        g.assignments.push({ start: e.start, end: e.start + e.length, to: assigned(e, e.time) });
        return;
      }
      case "unmap":
        live?.assignments.push({ start: e.start, end: e.start + e.length, to: undefined });
        return;
      case "fork": {
        if (e.pid === e.ppid) {
          const g = live ?? this.#born(e.pid, this.#generation(e.time));
          if (e.tid !== e.pid) g.threads++;
          return;
        }
        if (e.synthesized && live !== undefined) return;
        const parent = this.#live(e.ppid);
        if (live !== undefined) this.#end(live, e.time, "reused");
        const copy = e.synthesized || parent === undefined ? [] : [...parent.assignments];
        this.#born(e.pid, this.#generation(e.time, copy));
        return;
      }
      case "comm":
        if (live !== undefined && !e.exec) return;
        if (live !== undefined) this.#end(live, e.time, "exec");
        this.#born(e.pid, this.#generation(e.time));
        return;
      case "exit":
        if (live === undefined) return;
        if (e.tid === e.pid) live.leaderExited = true;
        else if (live.threads > 0) live.threads--;
        if (live.leaderExited && live.threads === 0) this.#end(live, e.time, "exit");
        return;
      case "snapshot": {
        const assignments = e.mappings.map((m) => ({
          start: m.start,
          end: m.start + m.length,
          to: assigned(m, e.time),
        }));
        if (live !== undefined) live.assignments = assignments;
        else this.#born(e.pid, this.#generation(e.time, assignments));
        return;
      }
    }
  }

  /** The generation of `pid` at `time` (omitted: the newest), or the status saying why there is none. */
  select(pid: number, time: bigint | undefined): Generation | number {
    const list = this.generations.get(pid) ?? [];
    if (list.length === 0) return LookupStatus.NO_PROCESS;
    if (time === undefined) {
      const newest = list[list.length - 1]!;
      return newest.endedAt === undefined ? newest : LookupStatus.EXITED;
    }
    for (let i = list.length - 1; i >= 0; i--) {
      const g = list[i]!;
      if (g.bornAt > time) continue;
      if (g.endedAt === undefined || time < g.endedAt) return g;
      return g.end === "exit" ? LookupStatus.EXITED : LookupStatus.NO_PROCESS;
    }
    return LookupStatus.NO_PROCESS;
  }

  lookup(pid: number, address: bigint, time: bigint | undefined): RefAnswer {
    const g = this.select(pid, time);
    if (typeof g === "number") return { status: g };
    for (let i = g.assignments.length - 1; i >= 0; i--) {
      const a = g.assignments[i]!;
      // An end of 2^64 is kept as 2^64 - 1 by the model: the last byte of the address space is never mapped.
      const end = a.end > (1n << 64n) - 1n ? (1n << 64n) - 1n : a.end;
      if (address < a.start || address >= end) continue;
      const to = a.to;
      if (to === undefined) return { status: LookupStatus.NO_MAPPING };
      if (time !== undefined && to.time > time) return { status: LookupStatus.CHANGED };
      if (to.anonymous) return { status: LookupStatus.ANONYMOUS, path: to.path };
      return {
        status: LookupStatus.OK,
        key: to.key,
        path: to.path,
        fileOffset: BigInt.asUintN(64, address - to.start + to.pgoff),
      };
    }
    return { status: LookupStatus.NO_MAPPING };
  }
}
