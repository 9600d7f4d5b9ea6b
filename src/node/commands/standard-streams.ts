/**
 * `-` as a file: standard input read to a stated bound, binary standard output written whole, and
 * the terminal checks gzip makes before either.
 *
 * @packageDocumentation
 */
import { STANDARD_STREAM, UsageError } from "./shared.js";

/** Standard input that runs past the most bytes a command reads from it; what was read is dropped. */
export class InputTooLargeError extends Error {
  /** Always "InputTooLargeError", so the error can be told apart after serialisation. */
  override name = "InputTooLargeError";
  /** Errno-style code, as `FileTooLargeError` has for a file. */
  readonly code = "EFBIG";
  /** @param limit The most bytes the command reads. */
  constructor(readonly limit: number) {
    super(`standard input runs past ${limit} bytes, the most read from it`);
  }
}

/**
 * All of standard input, refused past `maxBytes` (reading stops there). A terminal is refused
 * unread, as gzip refuses to read compressed data from one: `what` says what the command expected.
 * @throws UsageError when standard input is a terminal, InputTooLargeError past `maxBytes`.
 */
export async function readStandardInput(what: string, maxBytes: number): Promise<Uint8Array> {
  if (process.stdin.isTTY) {
    throw new UsageError(`not reading ${what} from a terminal: redirect standard input, or give a file instead of -`);
  }
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    got += chunk.length;
    if (got > maxBytes) throw new InputTooLargeError(maxBytes);
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks, got));
}

/**
 * Refuses binary output to a terminal before any work is done, as gzip does ("compressed data not
 * written to a terminal"): `what` names the output.
 * @throws UsageError when `path` is `-` and standard output is a terminal.
 */
export function refuseBinaryToTerminal(path: string, what: string): void {
  if (path === STANDARD_STREAM && process.stdout.isTTY) {
    throw new UsageError(`not writing ${what} to a terminal: redirect standard output, or give -o FILE`);
  }
}

/**
 * Writes `bytes` to standard output and resolves once they are handed to the system, or once its
 * reader has gone (EPIPE, which the CLI answers by exiting 0, as behind `head`).
 */
export function writeStandardOutput(bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (error) => {
      if (error && (error as NodeJS.ErrnoException).code !== "EPIPE") reject(error);
      else resolve();
    });
  });
}
