/**
 * What every command shares: exit statuses, where output goes, what to finish before exiting, and
 * the option parsers.
 *
 * @packageDocumentation
 */
import { InvalidArgumentError } from "commander";

/** Exit statuses; README and docs/errors.md list them. */
export const EXIT = {
  ok: 0,
  error: 1,
  noProc: 2,
  cacheRefused: 3,
  cacheNotSaved: 4,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

/** Where the commands write: standard output and standard error unless a test gives others. */
export interface CommandOutput {
  /** Results. */
  out(text: string): void;
  /** Problems, one line each. */
  err(text: string): void;
}

let stdoutClosed = false;

/** Standard output (silent once a reader such as `head` has closed it) and standard error. */
export const STANDARD: CommandOutput = {
  out: (text) => {
    if (!stdoutClosed) process.stdout.write(text);
  },
  err: (text) => process.stderr.write(text),
};

/** Stops {@link STANDARD} from writing to standard output (its reader has gone); false when it already had. */
export function closeStandardOutput(): boolean {
  if (stdoutClosed) return false;
  stdoutClosed = true;
  return true;
}

/** How a command hands the CLI what to finish (save a cache file, close a server) before it exits. */
export type OnStop = (stop: () => Promise<void>) => void;

/** What the commands are registered with: where they write and what to finish before exiting. */
export interface CommandContext {
  /** Where results and problems go. */
  output: CommandOutput;
  /** Hands over what to finish before the CLI exits; the last one handed over is the one run. */
  onStop: OnStop;
  /** Runs what {@link onStop} was handed; on failure reports it, sets the exit status and returns false. */
  finish(): Promise<boolean>;
}

/** A {@link CommandContext} writing to `output`, with nothing to finish yet. */
export function commandContext(output: CommandOutput = STANDARD): CommandContext {
  let stop = async (): Promise<void> => {};
  return {
    output,
    onStop: (next) => {
      stop = next;
    },
    async finish() {
      try {
        await stop();
        return true;
      } catch (error) {
        output.err(`buildid-cache: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = EXIT.cacheNotSaved;
        return false;
      }
    },
  };
}

/** A commander parser for an integer option or argument from `min` to `max`, naming `what` when refused. */
export function integerOption(what: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range =
        min === 1 && max === Number.MAX_SAFE_INTEGER ? "a positive integer" : `an integer from ${min} to ${max}`;
      throw new InvalidArgumentError(`${what} must be ${range}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** `value` as indented JSON and a newline, bigints written by `bigint`. */
export function jsonText(value: unknown, bigint: (n: bigint) => string): string {
  return `${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? bigint(v) : v), 2)}\n`;
}

/** `n` as `0x` and lowercase hex. */
export function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

/** The `--dir` option of the commands over perf's build-ID store. */
export const STORE_DIR_OPTION = ["--dir <dir>", "the store (default: $PERF_BUILDID_DIR, else ~/.debug)"] as const;

/** A bigint in JSON output, as `0x` hex. */
export const hexJson = (value: unknown): string => jsonText(value, hex);
