// One table of one part of one side of the benchmark (or its memory probe) in a worker of its own, new for every run:
// the other tables' allocations live in other heaps.
import { openTimer, type PartName, type WorkerName } from "./bench.js";
import type { SideResult, Timer } from "./bench-timing.js";

/** What the page posts: first the part of a side to open, then calls on it, each answered by a {@link SideReply}. */
export type SideRequest =
  | { call: "open"; side: WorkerName; part: PartName; keys: number; resolution: number; passes: number[] }
  | { call: "warm"; row: number }
  | { call: "turn"; row: number; round: number }
  | { call: "finish" };

/** The answer to each {@link SideRequest}, in order: its value, or why it failed. */
export type SideReply = { type: "value"; value: SideValue } | { type: "error"; message: string };

/** What a call on a side answers. */
export type SideValue = SideResult | number | undefined;

let bench: Timer | undefined;

function answer(request: SideRequest, side: Timer | undefined): SideValue {
  if (request.call === "open") return undefined;
  if (!side) throw new Error(`'${request.call}' before 'open'`);
  if (request.call === "warm") side.warm(request.row);
  else if (request.call === "turn") return side.turn(request.row, request.round);
  else return side.finish();
  return undefined;
}

self.onmessage = async ({ data }: MessageEvent<SideRequest>) => {
  try {
    if (data.call === "open") bench = await openTimer(data.side, data.part, data.keys, data.resolution, data.passes);
    self.postMessage({ type: "value", value: answer(data, bench) } satisfies SideReply);
  } catch (error) {
    self.postMessage({
      type: "error",
      message: error instanceof Error ? error.message : String(error),
    } satisfies SideReply);
  }
};
