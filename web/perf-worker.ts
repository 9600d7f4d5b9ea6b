// Section 6's worker: converts one recording off the main thread (a new worker per file), so the page
// stays responsive however large the file; the page only draws what it posts back.
import { type ConvertedRecording, convertRecording } from "./recording.js";

/** What the page posts: the chosen file (a File clones without copying its bytes). */
export interface PerfRequest {
  file: File;
}

/** A thrown value as the page shows it: the error's class, its `code` and byte `offset` where it has them. */
export interface ShownError {
  name: string;
  code: string | undefined;
  offset: number | undefined;
  message: string;
}

/** What the worker posts back: progress (the byte offset reached), then the recording or why it was refused. */
export type PerfMessage =
  | { type: "progress"; bytesRead: number }
  | { type: "done"; recording: ConvertedRecording }
  | { type: "error"; error: ShownError };

/** The parts of `error` the page shows (a posted Error keeps neither `code` nor `offset`). */
function shownError(error: unknown): ShownError {
  if (!(error instanceof Error)) return { name: "Error", code: undefined, offset: undefined, message: String(error) };
  const { code, offset } = error as { code?: unknown; offset?: unknown };
  return {
    name: error.name,
    code: typeof code === "string" ? code : undefined,
    offset: typeof offset === "number" ? offset : undefined,
    message: error.message,
  };
}

const post = (message: PerfMessage) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<PerfRequest>) => {
  try {
    const recording = await convertRecording(event.data.file, (bytesRead) => post({ type: "progress", bytesRead }));
    post({ type: "done", recording });
  } catch (error) {
    post({ type: "error", error: shownError(error) });
  }
};
