/**
 * A scan worker's thread (worker_threads): runs the jobs scan-pool.ts posts (scan-jobs.ts) and
 * posts back each one's result under its sequence number. A message it does not know is a bug
 * of the sender: thrown, so the pool sees the worker fail and fails the scan.
 *
 * @packageDocumentation
 */
import { parentPort } from "node:worker_threads";
import { type ScanJob, ScanJobs, type ScanSetup } from "./scan-jobs.js";

/** What the scanning thread posts to a worker. */
export type ToWorker =
  | { type: "setup"; seq: number; setup: ScanSetup }
  | { type: "job"; seq: number; job: ScanJob }
  | { type: "release"; seq: number }
  | { type: "end"; seq: number };

/** What a worker posts back: a result, or the error a job threw (name and message). */
export type FromWorker = { seq: number; result?: unknown; error?: { name: string; message: string } };

let jobs: ScanJobs | undefined;

function handle(message: ToWorker): unknown {
  switch (message.type) {
    case "setup":
      jobs?.close();
      jobs = undefined;
      jobs = new ScanJobs(message.setup);
      return undefined;
    case "job":
      if (!jobs) throw new Error("a scan job came before its setup");
      return jobs.run(message.job);
    case "release":
      jobs?.release();
      return undefined;
    case "end":
      jobs?.close();
      jobs = undefined;
      return undefined;
    default:
      throw new TypeError(`unknown message ${JSON.stringify((message as { type: unknown }).type)} to a scan worker`);
  }
}

const port = parentPort;
if (!port) throw new Error("scan-worker.ts runs as a worker thread");
port.on("message", (message: ToWorker) => {
  if (typeof message?.seq !== "number") throw new TypeError("a message to a scan worker without a sequence number");
  let reply: FromWorker;
  try {
    reply = { seq: message.seq, result: handle(message) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    reply = { seq: message.seq, error: { name: e.name, message: e.message } };
  }
  port.postMessage(reply);
});
