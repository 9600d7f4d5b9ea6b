/**
 * One process's address space over one stretch of time: from its birth (fork, exec, first event
 * or snapshot) to its end (exit of its last thread, exec, or PID reuse). A pid's spaces form a
 * chain, newest first, so a sample that arrives late still finds the space of its time.
 *
 * @module
 */
import type { KERNEL_PID } from "./events.js";
import type { Layout, Mapping } from "./layout.js";

/** Why a space ended. */
export type SpaceEnd =
  /** Its last thread exited (the leader, with no other thread known alive). */
  | "exit"
  /** It ran a new program: the new program has a new space. */
  | "exec"
  /** A new process was forked with its pid, and no exit was seen first. */
  | "reused";

/** A read-only view of one space, as `AddressSpaces.space` and `lookup` return it. */
export interface AddressSpace {
  /** Process ID ({@link KERNEL_PID} for the kernel's). */
  readonly pid: number;
  /** The command name last given by a comm event or inherited at fork ("" when none was). */
  readonly comm: string;
  /** When it began. */
  readonly bornAt: bigint;
  /** When it ended; `undefined` while it lives. */
  readonly endedAt: bigint | undefined;
  /** Why it ended; `undefined` while it lives. */
  readonly end: SpaceEnd | undefined;
  /** Time of the last event applied to it: how old the view is. */
  readonly updatedAt: bigint;
  /** How many mappings it holds. */
  readonly size: number;
  /**
   * It lost mappings to `maxMappingsPerSpace` (or inherited a space that had): an address no held
   * mapping covers may have been mapped, so lookups say `incomplete` rather than `no-mapping`.
   */
  readonly incomplete: boolean;
  /** The space this pid had before (ended), while the model keeps it. */
  readonly previous: AddressSpace | undefined;
  /** Its mappings in address order. */
  mappings(): IterableIterator<Mapping>;
}

/** The model's record of a space; only the model changes it. */
export class Space implements AddressSpace {
  readonly pid: number;
  readonly bornAt: bigint;
  comm: string;
  layout: Layout;
  updatedAt: bigint;
  endedAt: bigint | undefined = undefined;
  end: SpaceEnd | undefined = undefined;
  incomplete = false;
  /** Threads other than the leader known alive: forked and not yet exited. */
  threads = 0;
  /** The leader (tid === pid) has exited; the space ends when {@link threads} reaches 0. */
  leaderExited = false;
  /** Born without a fork or exec after its pid's live space was evicted: the rest of an evicted process, answered as one. */
  continuesEvicted = false;
  /** The pid's space before this one. */
  older: Space | undefined = undefined;
  /** The pid's space after this one. */
  newer: Space | undefined = undefined;

  constructor(pid: number, time: bigint, comm: string, layout: Layout) {
    this.pid = pid;
    this.bornAt = time;
    this.updatedAt = time;
    this.comm = comm;
    this.layout = layout;
  }

  get size(): number {
    return this.layout.size;
  }

  get previous(): AddressSpace | undefined {
    return this.older;
  }

  mappings(): IterableIterator<Mapping> {
    return this.layout.mappings();
  }
}
