/**
 * A scan worker's thread (worker_threads): runs the jobs scan-pool.ts posts (scan-jobs.ts) and
 * posts back each one's result under its sequence number. Scans of several indexes may share it:
 * each job names its scan. A message it does not know is a bug
 * of the sender: thrown, so the pool sees the worker fail and fails the scan.
 *
 * @packageDocumentation
 */
import { parentPort } from "node:worker_threads";
import { type ReadFiles, readFilesBuffers, type ScanJob, ScanJobs, type ScanSetup } from "./scan-jobs.js";

/** What the scanning thread posts to a worker. */
export type ToWorker =
  | { type: "setup"; seq: number; scan: number; setup: ScanSetup }
  | { type: "job"; seq: number; scan: number; job: ScanJob }
  | { type: "release"; seq: number; scan: number }
  | { type: "end"; seq: number; scan: number };

/** What a worker posts back: a result, or the error a job threw (name and message), and the ms it took. */
export type FromWorker = { seq: number; result?: unknown; error?: { name: string; message: string }; ms?: number };

/** The scans under way, by number: set up (asynchronously) before their jobs come. */
const scans = new Map<number, Promise<ScanJobs>>();

async function handle(message: ToWorker): Promise<unknown> {
  switch (message.type) {
    case "setup": {
      const jobs = ScanJobs.open(message.setup);
      scans.set(message.scan, jobs);
      await jobs;
      return undefined;
    }
    case "job": {
      const jobs = scans.get(message.scan);
      if (!jobs) throw new Error(`a job of scan ${message.scan}, which has no setup`);
      return (await jobs).run(message.job);
    }
    case "release":
      (await scans.get(message.scan))?.release();
      return undefined;
    case "end": {
      const jobs = scans.get(message.scan);
      scans.delete(message.scan);
      (await jobs)?.close();
      return undefined;
    }
    default:
      throw new TypeError(`unknown message ${JSON.stringify((message as { type: unknown }).type)} to a scan worker`);
  }
}

const port = parentPort;
if (!port) throw new Error("scan-worker.ts runs as a worker thread");
const isReadFiles = (result: unknown): result is ReadFiles => result instanceof Object && "stamps" in result;

port.on("message", (message: ToWorker) => {
  if (typeof message?.seq !== "number") throw new TypeError("a message to a scan worker without a sequence number");
  const { seq } = message;
  const started = performance.now();
  handle(message).then(
    (result) =>
      port.postMessage(
        { seq, result, ms: performance.now() - started },
        isReadFiles(result) ? readFilesBuffers(result) : [],
      ),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({ seq, error: { name: e.name, message: e.message } });
    },
  );
});
