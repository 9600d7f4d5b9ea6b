/**
 * Serving processes for `serve -j N` (README: "-j N"). The primary listens, scans, writes the index
 * and hands each accepted connection to a ready serving process in turn, answering itself only while
 * none is ready. A serving process is a `node:cluster` worker running the same command line over the
 * database read-only (a `--passive` replica); it exits when its channel to the primary closes, and
 * one that dies is started again after a pause that doubles while they die young. `/metrics` sums
 * every process's counters (a late one's last, a dead one's kept), so no counter goes down.
 *
 * @packageDocumentation
 */
import cluster, { type Worker } from "node:cluster";
import type { Socket } from "node:net";
import type { BuildIdIndex } from "./build-id-index.js";
import {
  addMetrics,
  type DebuginfodService,
  debuginfodService,
  newMetrics,
  type PoolMetrics,
  type ServerMetrics,
  type ServiceOptions,
  type ServingPool,
} from "./server.js";

/** The environment variable naming the database a serving process opens read-only. */
export const POOL_DATABASE_ENV = "BUILDID_CACHE_SERVE_DATABASE";

/** Time a serving process has to send its counters for `/metrics`, in ms; for a late one, those it sent last are used. */
const METRICS_WAIT_MS = 2000;

/** Time serving processes have to exit when the pool closes before they are killed, in ms. */
const EXIT_WAIT_MS = 5000;

/** A serving process that dies younger than this, in ms, is started again only after a pause. */
const YOUNG_MS = 5000;

/** The longest pause before starting a serving process again, in ms. */
const MAX_PAUSE_MS = 30_000;

/** Messages between the primary and a serving process. */
type Message =
  | { type: "bic:ready" }
  | { type: "bic:connection"; id: number }
  | { type: "bic:closed"; id: number }
  | { type: "bic:metrics?"; ask: number }
  | { type: "bic:metrics"; ask: number; metrics: ServerMetrics }
  | { type: "bic:text?"; ask: number }
  | { type: "bic:text"; ask: number; text: string }
  | { type: "bic:stop" };

const isMessage = (m: unknown): m is Message =>
  typeof m === "object" && m !== null && typeof (m as { type?: unknown }).type === "string";

/** Whether this process is a serving process of a pool (a `node:cluster` worker started by {@link startPool}). */
export function isServingProcess(): boolean {
  return cluster.isWorker && process.env[POOL_DATABASE_ENV] !== undefined;
}

/** Options for {@link startPool}. */
export interface PoolOptions {
  /** Serving processes to keep running, at least 1. */
  processes: number;
  /** The index's database, which serving processes open read-only. */
  database: string;
  /** Told when a serving process dies and another is started. */
  onExit?: (pid: number, how: string, restartInMs: number) => void;
}

interface Member {
  worker: Worker;
  ready: boolean;
  started: number;
  /** Connections handed to it and not yet closed, by id. */
  open: Map<number, () => void>;
  /** Its counters as it last sent them (zeros before its first answer). */
  last: ServerMetrics;
  /** Asks for its counters it has not answered yet, by ask number: called with whether it answered. */
  asked: Map<number, (answered: boolean) => void>;
}

/**
 * Starts `processes` serving processes (the same program and arguments as this one) and returns the
 * pool {@link serveDebuginfod} hands its connections to. Call only in the primary.
 */
export function startPool(options: PoolOptions): ServingPool {
  const members = new Set<Member>();
  // The counters of the serving processes that died, as each last sent them.
  const exited = newMetrics();
  let text: () => Promise<string> = async () => "";
  let nextId = 0;
  let nextAsk = 0;
  let turn = 0;
  let pause = 0;
  let closing = false;
  const timers = new Set<NodeJS.Timeout>();

  const start = (): void => {
    const worker = cluster.fork({ [POOL_DATABASE_ENV]: options.database });
    const member: Member = {
      worker,
      ready: false,
      started: Date.now(),
      open: new Map(),
      last: newMetrics(),
      asked: new Map(),
    };
    members.add(member);
    worker.on("message", (m: unknown) => {
      if (!isMessage(m)) return;
      if (m.type === "bic:ready") member.ready = true;
      else if (m.type === "bic:closed") {
        member.open.get(m.id)?.();
        member.open.delete(m.id);
      } else if (m.type === "bic:metrics") {
        member.last = m.metrics; // a late answer too: messages come in order, so the last is the highest
        member.asked.get(m.ask)?.(true);
      } else if (m.type === "bic:text?") {
        void text().then(
          (t) => worker.isConnected() && worker.send({ type: "bic:text", ask: m.ask, text: t } satisfies Message),
        );
      }
    });
    worker.on("error", () => {}); // a send to a process that just died: its exit is handled below
    worker.on("exit", (code, signal) => {
      members.delete(member);
      addMetrics(exited, member.last);
      for (const closed of member.open.values()) closed();
      for (const answered of member.asked.values()) answered(false);
      if (closing) return;
      pause = Date.now() - member.started < YOUNG_MS ? Math.min(MAX_PAUSE_MS, Math.max(250, pause * 2)) : 0;
      options.onExit?.(worker.process.pid ?? 0, signal ? `signal ${signal}` : `status ${code}`, pause);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!closing) start();
      }, pause);
      timers.add(timer);
    });
  };
  for (let i = 0; i < options.processes; i++) start();

  // Asks `member` for its counters; resolves whether it answered within METRICS_WAIT_MS.
  const ask = (member: Member): Promise<boolean> =>
    new Promise((resolve) => {
      const n = nextAsk++;
      const timer = setTimeout(() => answered(false), METRICS_WAIT_MS);
      const answered = (yes: boolean): void => {
        clearTimeout(timer);
        member.asked.delete(n);
        resolve(yes);
      };
      member.asked.set(n, answered);
      member.worker.send({ type: "bic:metrics?", ask: n } satisfies Message);
    });

  return {
    take(socket: Socket, closed: () => void): boolean {
      const ready = [...members].filter((m) => m.ready && m.worker.isConnected());
      if (ready.length === 0) return false;
      const member = ready[turn++ % ready.length]!;
      const id = nextId++;
      member.open.set(id, closed);
      member.worker.send({ type: "bic:connection", id } satisfies Message, socket, (error) => {
        if (!error) return;
        member.open.delete(id);
        closed();
        socket.destroy();
      });
      return true;
    },
    async metrics(): Promise<PoolMetrics> {
      const asked = [...members].filter((m) => m.ready && m.worker.isConnected());
      const answers = await Promise.all(asked.map(ask));
      const inTime = new Set(asked.filter((_, i) => answers[i]));
      // Those that died meanwhile are in `exited` now, so each process is counted once.
      return {
        processes: [...members]
          .filter((m) => m.ready)
          .map((m) => ({ pid: m.worker.process.pid!, metrics: m.last, late: !inTime.has(m) })),
        exited: structuredClone(exited),
      };
    },
    answerMetrics(make: () => Promise<string>): void {
      text = make;
    },
    async close(): Promise<void> {
      closing = true;
      for (const timer of timers) clearTimeout(timer);
      const exits = [...members].map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.worker.isDead()) return resolve();
            m.worker.once("exit", () => resolve());
            const kill = setTimeout(() => m.worker.process.kill("SIGKILL"), EXIT_WAIT_MS);
            m.worker.once("exit", () => clearTimeout(kill));
            if (m.worker.isConnected()) m.worker.send({ type: "bic:stop" } satisfies Message);
            else m.worker.process.kill("SIGTERM");
          }),
      );
      await Promise.all(exits);
    },
  };
}

/**
 * Runs this serving process: answers the connections the primary hands it over `index` (opened
 * read-only), sends its counters when asked, and asks the primary for the `/metrics` text. Returns
 * a function that stops it; the process also exits when the primary goes (`node:cluster` ends a
 * worker whose channel closes).
 */
export function serveInPool(index: BuildIdIndex, options: ServiceOptions): () => Promise<void> {
  const send = (m: Message): void => {
    if (process.connected) process.send!(m);
  };
  const texts = new Map<number, (text: string) => void>();
  let nextAsk = 0;
  const service: DebuginfodService = debuginfodService(index, {
    ...options,
    metricsText: () =>
      new Promise((resolve, reject) => {
        const ask = nextAsk++;
        const timer = setTimeout(() => {
          texts.delete(ask);
          reject(new Error("the primary did not send the metrics in time"));
        }, METRICS_WAIT_MS * 2);
        texts.set(ask, (t) => {
          clearTimeout(timer);
          texts.delete(ask);
          resolve(t);
        });
        send({ type: "bic:text?", ask });
      }),
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= service.close();
    return stopping;
  };
  process.on("message", (m: unknown, handle: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === "bic:connection") {
      const socket = handle as Socket | undefined;
      if (!socket) return send({ type: "bic:closed", id: m.id });
      socket.once("close", () => send({ type: "bic:closed", id: m.id }));
      service.accept(socket);
    } else if (m.type === "bic:metrics?") send({ type: "bic:metrics", ask: m.ask, metrics: service.metrics });
    else if (m.type === "bic:text") texts.get(m.ask)?.(m.text);
    else if (m.type === "bic:stop") void stop().finally(() => process.exit(0));
  });
  send({ type: "bic:ready" });
  return stop;
}
