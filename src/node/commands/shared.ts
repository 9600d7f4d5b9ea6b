/**
 * What every command shares: exit statuses, where output goes, what to finish before exiting, and
 * the option parsers.
 *
 * @packageDocumentation
 */
import type * as Commander from "commander";

// commander when a parser below refuses a value: only commands parsed by commander call them, and the
// data commands (./data-commands.ts) start without loading it, nor node:module (on Node 20 its public
// face loads the ES module loader, which the installed command's launcher, ../launcher.ts, never boots).
const invalidArgument = (message: string): Error =>
  new (
    process.getBuiltinModule("node:module").createRequire(import.meta.url)("commander") as typeof Commander
  ).InvalidArgumentError(message);

// commander's errors by their code ("commander.unknownOption", ...), for the same reason.
const isCommanderError = (error: unknown): error is Commander.CommanderError =>
  error instanceof Error && String((error as { code?: unknown }).code).startsWith("commander.");

/**
 * Exit statuses: 0 success, 1 a failure of the work, 2 a usage error, then one of its own for each
 * condition a script may want to tell apart. 3 and 4 kept their numbers when usage errors moved to 2;
 * "no procfs", which was 2, is now 5. {@link EXIT_MEANINGS} says each; docs/errors.md and `--help` list them.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  cacheRefused: 3,
  cacheNotSaved: 4,
  noProcfs: 5,
  noPerf: 6,
  cannotRun: 126,
  notFound: 127,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

/** One of the {@link EXIT} statuses. */
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** What each exit status means, as `--help` prints it. */
export const EXIT_MEANINGS: Readonly<Record<ExitStatus, string>> = {
  0: "success",
  1: "the work failed: a file refused or without a build ID, a process that does not exist, a profile not understood, an I/O error",
  2: "usage error: an unknown command or option, a bad option value or argument, binary output to a terminal",
  3: "the --cache-file exists but could not be read or understood; it was left as it was",
  4: "the cache file could not be saved",
  5: "no procfs at --proc",
  6: "record: perf is not installed, the kernel forbids this user to record (perf_event_paranoid), or perf record failed before recording",
  126: "record: the command was found but is not executable",
  127: "record: the command was not found",
  130: "interrupted (SIGINT), after saving the cache file or closing the server",
  143: "terminated (SIGTERM), after saving the cache file or closing the server",
};

/** The statuses every command can end with. */
export const COMMON_EXITS: readonly ExitStatus[] = [EXIT.ok, EXIT.failure, EXIT.usage, EXIT.SIGINT, EXIT.SIGTERM];

/** A command line that cannot be run as given (exit status 2), found after commander's own checks. */
export class UsageError extends Error {
  /** Always "UsageError", so the error can be told apart after serialisation. */
  override name = "UsageError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EUSAGE";
}

/**
 * The exit status for an error that ended a command. Commander's own errors (already printed) are
 * usage errors, or success for `--help` and `--version`.
 */
export function exitStatusOf(error: unknown): ExitStatus {
  if (isCommanderError(error)) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof UsageError) return EXIT.usage;
  // By name, not class: importing the classes would load the census, the cache file and perf's runner into every command.
  const name = error instanceof Error ? error.name : undefined;
  if (name === "ProcUnavailableError") return EXIT.noProcfs;
  if (name === "CacheFileRefusedError") return EXIT.cacheRefused;
  if (name === "PerfUnavailableError") return EXIT.noPerf;
  if (name === "CommandNotRunnableError")
    return (error as { code?: string }).code === "EACCES" ? EXIT.cannotRun : EXIT.notFound;
  return EXIT.failure;
}

/**
 * An error as a command prints it after `buildid-cache: `: a system error as Unix tools name it, the
 * path first (`/x: ENOENT: no such file or directory`, not Node's `ENOENT: …, open '/x'`).
 */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { path, syscall } = error as NodeJS.ErrnoException;
  if (path === undefined || syscall === undefined) return error.message;
  const tail = `, ${syscall} '${path}'`;
  return error.message.endsWith(tail) ? `${path}: ${error.message.slice(0, -tail.length)}` : error.message;
}

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
        output.err(`buildid-cache: ${errorText(error)}\n`);
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
      throw invalidArgument(`${what} must be ${range}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

/** The name a command line gives standard input or output in place of a file. */
export const STANDARD_STREAM = "-";

/** A commander parser for a path option that is read and written back, so cannot be `-`. */
export function fileOption(what: string) {
  return (value: string): string => {
    if (value === STANDARD_STREAM) {
      throw invalidArgument(`${what} is read and saved back, so it cannot be - (standard input or output)`);
    }
    if (value === "") throw invalidArgument(`${what} must be a path, got ""`);
    return value;
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

/** The environment variables of the commands over perf's build-ID store. */
export const STORE_ENVIRONMENT = [
  ["PERF_BUILDID_DIR", "the store when --dir is not given (perf's own variable)"],
  ["HOME", "the store is ~/.debug when neither --dir nor PERF_BUILDID_DIR is given"],
] as const;

/** A bigint in JSON output, as `0x` hex. */
export const hexJson = (value: unknown): string => jsonText(value, hex);
