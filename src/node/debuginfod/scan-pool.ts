/**
 * The scan workers of an index: worker_threads that list directories and read files (scan-jobs.ts)
 * while the thread that owns the database writes what they find and keeps serving, as elfutils'
 * debuginfod scans with `-c` threads. A pool starts one worker, and another (up to its size) only
 * while jobs wait and a CPU is idle by the load average; a worker idle for {@link IDLE_MS} ends, so
 * a server between rescans holds none. While the pool's thread is busy serving, the workers take one
 * job at a time and rest four times as long as each took. The indexes of a process that ask for as
 * many workers share one pool ({@link ScanPool.acquire}), ended when the last lets it go. A worker
 * that dies fails the scans under way with a {@link ScanWorkerError} (their jobs never hang) and is
 * started again for the next scan. Workers hold the process only while a scan runs, and end with it.
 *
 * @packageDocumentation
 */
import { availableParallelism, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { ScanJob, ScanSetup } from "./scan-jobs.js";
import type { FromWorker, ToWorker } from "./scan-worker.js";

/** A scan worker died or failed a job: the scan under way fails with it. */
export class ScanWorkerError extends Error {
  /** Always "ScanWorkerError", so the error can be told apart after serialisation. */
  override name = "ScanWorkerError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ESCANWORKER";
  /**
   * @param threadId The worker's thread id.
   * @param detail What happened, with the worker's own error message.
   */
  constructor(
    readonly threadId: number,
    detail: string,
  ) {
    super(`scan worker ${threadId} ${detail}`);
  }
}

/** Jobs posted to a worker before it answers: enough that it never waits for the scanning thread. */
const DEPTH = 2;

/** A worker with no job for this long, in ms, ends; the next job starts one again. */
export const IDLE_MS = 2000;

/** Least time between two workers started while a scan runs, and between two reads of the load average, in ms: it is a minute's. */
const GROW_MS = 1000;

/** While the pool's thread is busy, workers rest this many times as long as each job took: a fifth of a CPU at most, as elfutils' scanner beside its serving threads. */
const REST = 4;

/** Whether this thread's event loop was more than half busy (a server's requests) since the last look, 100 ms ago at least. */
function threadBusy(): () => boolean {
  let last = performance.eventLoopUtilization();
  let busy = false;
  return () => {
    const now = performance.eventLoopUtilization();
    if (now.idle + now.active - last.idle - last.active < 100) return busy;
    busy = performance.eventLoopUtilization(now, last).utilization > 0.5;
    last = now;
    return busy;
  };
}

/** Whether a CPU is idle: the load average leaves one more thread room. */
function cpuIdle(): boolean {
  return loadavg()[0]! + 1 <= availableParallelism();
}

/** How a pool starts and ends workers. */
export interface PoolOptions {
  /** Whether a CPU is idle for one more worker (default: by the load average). */
  spare?: () => boolean;
  /** Ms a worker may be idle before it ends (default {@link IDLE_MS}). */
  idleMs?: number;
  /** Whether the pool's thread is busy, so that workers rest (default: by its event loop). */
  busy?: () => boolean;
}

/** A worker's young generation, in MiB: a scan makes short-lived garbage only, and V8's default (tens of MiB a thread) would be held as RSS. */
const LIMITS = { maxYoungGenerationSizeMb: 4 };

type Waiter = { resolve: (value: unknown) => void; reject: (error: Error) => void };

interface Slot {
  worker: Worker;
  pending: Map<number, Waiter>;
  /** Ends the worker once idle; set while it has no job. */
  idle?: NodeJS.Timeout;
}

// The worker's module beside this one; from TypeScript sources (tests, tsx) it is loaded through tsx as they are.
function spawn(): Worker {
  const url = new URL(`./scan-worker.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url);
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { resourceLimits: LIMITS });
  const href = JSON.stringify(url.href);
  return new Worker(`import("tsx/esm/api").then((tsx) => tsx.tsImport(${href}, ${href}))`, {
    eval: true,
    resourceLimits: LIMITS,
  });
}

/** The pools in use, by size. */
const shared = new Map<number, { pool: ScanPool; users: number }>();

/** Up to `size` scan workers and the queue of jobs they take. */
export class ScanPool {
  /** Most workers it runs. */
  readonly size: number;
  #slots: Slot[] = [];
  #scans = 0;
  #running = 0;
  #queue: (Waiter & { message: ToWorker })[] = [];
  #seq = 0;
  #failure: ScanWorkerError | undefined;
  #closed = false;
  /** The setup of each scan under way, for a worker started during it. */
  #setups = new Map<number, ScanSetup>();
  #spare: () => boolean;
  #idleMs: number;
  #grown = 0;
  #busy: () => boolean;
  /** While set, no job is posted before this (`performance.now()`), nor while one is out. */
  #rest = 0;
  #wake: NodeJS.Timeout | undefined;

  /**
   * @param size Most workers to run (1 or more); none is started before {@link ScanPool.start}.
   * @param options How workers are started and ended (tests).
   */
  constructor(size: number, options: PoolOptions = {}) {
    this.size = size;
    this.#spare = options.spare ?? cpuIdle;
    this.#idleMs = options.idleMs ?? IDLE_MS;
    this.#busy = options.busy ?? threadBusy();
  }

  /** The process's pool of at most `size` workers, shared; {@link ScanPool.release} it when done. */
  static acquire(size: number): ScanPool {
    const entry = shared.get(size) ?? { pool: new ScanPool(size), users: 0 };
    entry.users++;
    shared.set(size, entry);
    return entry.pool;
  }

  /** Lets go of a pool from {@link ScanPool.acquire}: the last user ends its workers (a pool of its own: at once). */
  release(): void {
    const entry = shared.get(this.size);
    if (entry?.pool === this && --entry.users > 0) return;
    if (entry?.pool === this) shared.delete(this.size);
    this.close();
  }

  /**
   * Starts a worker if none runs, forgets an earlier failure when no other scan runs, and holds the
   * process until {@link ScanPool.idle}. Returns the scan's number, which its setup, jobs and end carry.
   */
  start(): number {
    if (this.#closed) throw new Error("the scan pool is closed");
    if (this.#running++ === 0) this.#failure = undefined;
    if (this.#slots.length === 0) this.#add();
    for (const slot of this.#slots) slot.worker.ref();
    return ++this.#scans;
  }

  /** The workers running. @internal */
  get workers(): Worker[] {
    return this.#slots.map((slot) => slot.worker);
  }

  /** A scan is over: the process may exit once none runs. */
  idle(): void {
    if (--this.#running > 0) return;
    for (const slot of this.#slots) slot.worker.unref();
  }

  // Starts a worker, given the setup of each scan under way before any job.
  #add(): Slot {
    const slot: Slot = { worker: spawn(), pending: new Map() };
    const { worker } = slot;
    const id = worker.threadId;
    worker.on("message", (reply: FromWorker) => {
      const waiter = slot.pending.get(reply.seq);
      if (!waiter) return;
      slot.pending.delete(reply.seq);
      this.#rest = reply.ms !== undefined && this.#busy() ? performance.now() + REST * reply.ms : 0;
      if (reply.error)
        waiter.reject(new ScanWorkerError(id, `failed a job: ${reply.error.name}: ${reply.error.message}`));
      else waiter.resolve(reply.result);
      this.#pump();
      if (slot.pending.size === 0) this.#idleAfter(slot);
    });
    worker.on("error", (error) => this.#lost(slot, new ScanWorkerError(id, `failed: ${error.message}`)));
    worker.on("exit", (code) => this.#lost(slot, new ScanWorkerError(id, `exited with code ${code}`)));
    this.#slots.push(slot);
    if (this.#running === 0) worker.unref();
    for (const [scan, setup] of this.#setups) {
      const seq = ++this.#seq;
      const fail = (error: Error) => this.#lost(slot, error as ScanWorkerError);
      slot.pending.set(seq, { resolve: () => {}, reject: fail });
      worker.postMessage({ type: "setup", seq, scan, setup } satisfies ToWorker);
    }
    return slot;
  }

  // Ends `slot`'s worker if it is still without a job after the idle time.
  #idleAfter(slot: Slot): void {
    clearTimeout(slot.idle);
    slot.idle = setTimeout(() => {
      const at = this.#slots.indexOf(slot);
      if (at < 0 || slot.pending.size > 0) return;
      this.#slots.splice(at, 1);
      void slot.worker.terminate();
    }, this.#idleMs);
    slot.idle.unref();
  }

  // A worker is gone: its jobs, those queued and those to come until the next start() fail with `error`.
  #lost(slot: Slot, error: ScanWorkerError): void {
    const at = this.#slots.indexOf(slot);
    if (at < 0) return;
    this.#slots.splice(at, 1);
    clearTimeout(slot.idle);
    if (!this.#closed) this.#failure ??= error;
    const failure = this.#failure ?? error;
    for (const waiter of slot.pending.values()) waiter.reject(failure);
    slot.pending.clear();
    for (const waiter of this.#queue.splice(0)) waiter.reject(failure);
  }

  // Posts queued jobs to the workers with room, the least busy first; starts one more when every
  // worker is full, jobs wait, and a CPU is idle. Resting, one job at a time, each after the rest.
  #pump(): void {
    while (this.#queue.length > 0) {
      const wait = this.#rest - performance.now();
      if (this.#rest && (wait > 0 || this.#slots.some((s) => s.pending.size > 0))) {
        if (wait > 0)
          this.#wake ??= setTimeout(() => {
            this.#wake = undefined;
            this.#pump();
          }, wait).unref();
        return;
      }
      let slot: Slot | undefined;
      for (const s of this.#slots)
        if (s.pending.size < DEPTH && (!slot || s.pending.size < slot.pending.size)) slot = s;
      if (!slot && this.#mayGrow()) slot = this.#add();
      if (!slot) return;
      const next = this.#queue.shift()!;
      clearTimeout(slot.idle);
      slot.pending.set(next.message.seq, next);
      slot.worker.postMessage(next.message);
    }
  }

  #mayGrow(): boolean {
    if (this.#slots.length === 0) return true;
    if (this.#slots.length >= this.size || performance.now() - this.#grown < GROW_MS) return false;
    this.#grown = performance.now();
    return this.#spare();
  }

  /** Runs `job` on the first worker free; rejects with a {@link ScanWorkerError} when a worker dies or the job throws. */
  run<T>(scan: number, job: ScanJob): Promise<T> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#running === 0) return Promise.reject(new Error("the scan pool runs no scan: start() it"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ message: { type: "job", seq: ++this.#seq, scan, job }, resolve: resolve as never, reject });
      this.#pump();
    });
  }

  // Posts `message` to every worker, after what each has been given, and waits for every answer.
  #broadcast(make: (seq: number) => ToWorker): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<unknown>((resolve, reject) => {
            const message = make(++this.#seq);
            slot.pending.set(message.seq, { resolve, reject });
            slot.worker.postMessage(message);
          }),
      ),
    ).then(() => {});
  }

  /**
   * Gives every worker, and each started during the scan, the scan's roots (which each opens again
   * from their descriptors: keep them open until {@link ScanPool.end}) and settings.
   */
  setup(scan: number, setup: ScanSetup): Promise<void> {
    this.#setups.set(scan, setup);
    return this.#broadcast((seq) => ({ type: "setup", seq, scan, setup }));
  }

  /** Has every worker close the directories it holds, so the next jobs open from the roots again. */
  releaseDirs(scan: number): Promise<void> {
    return this.#broadcast((seq) => ({ type: "release", seq, scan }));
  }

  /** Has every worker close its descriptors of the scan's roots and its database. */
  end(scan: number): Promise<void> {
    this.#setups.delete(scan);
    return this.#broadcast((seq) => ({ type: "end", seq, scan }));
  }

  /** Ends every worker; jobs under way fail. Use {@link ScanPool.release} for a pool from {@link ScanPool.acquire}. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#wake);
    for (const slot of [...this.#slots]) {
      void slot.worker.terminate();
      this.#lost(slot, new ScanWorkerError(slot.worker.threadId, "ended: the index was closed"));
    }
  }
}
