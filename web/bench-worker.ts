// The benchmark's worker: one run of runBenchmark per worker, so no run inherits another's heap or JIT state.
import { type BenchProgress, type BenchResult, runBenchmark } from "./bench.js";

/** What the page posts to start a run. */
export interface BenchRequest {
  keys: number;
}

/** What the worker posts back: progress while it runs, then the result or why it failed. */
export type BenchMessage =
  | { type: "progress"; progress: BenchProgress }
  | { type: "result"; result: BenchResult }
  | { type: "error"; message: string };

const post = (message: BenchMessage) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<BenchRequest>) => {
  try {
    const result = await runBenchmark(event.data.keys, (progress) => post({ type: "progress", progress }));
    post({ type: "result", result });
  } catch (error) {
    post({ type: "error", message: error instanceof Error ? error.message : String(error) });
  }
};
