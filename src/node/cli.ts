#!/usr/bin/env node
// The buildid-cache command: a thin layer over the Node entry. `census` is the default command.
import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError } from "commander";
import { registerDebuginfodCommands } from "./debuginfod/commands.js";
import {
  annotateProfileFile,
  BuildIdResolver,
  CacheFileRefusedError,
  type CensusProgress,
  DEFAULT_PROFILE_LIMIT,
  formatCensus,
  loadResolver,
  MAX_INTERVAL_MS,
  ProcUnavailableError,
  persistResolver,
  type Resolution,
  takeCensus,
} from "./index.js";
import { registerStoreCommands } from "./store-commands.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** Exit statuses; README and docs/errors.md list them. */
const EXIT = {
  ok: 0,
  error: 1,
  noProc: 2,
  cacheRefused: 3,
  cacheNotSaved: 4,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

interface CacheOptions {
  capacity: number;
  proc: string;
  cacheFile?: string;
  saveInterval?: number;
  resetCache?: boolean;
}

function integerOption(what: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? "a positive integer" : `an integer from 1 to ${max}`;
      throw new InvalidArgumentError(`${what} must be ${range}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function address(value: string, previous: bigint[] = []): bigint[] {
  if (!/^(0x[0-9a-f]{1,16}|[0-9]{1,20})$/i.test(value) || BigInt(value) >= 1n << 64n) {
    throw new InvalidArgumentError(`address must be hex (0x...) or decimal below 2^64, got ${JSON.stringify(value)}`);
  }
  return [...previous, BigInt(value)];
}

function withCacheOptions(command: Command): Command {
  return command
    .option("--capacity <n>", "build IDs the cache holds", integerOption("--capacity"), 16_384)
    .option("--proc <dir>", "where procfs is mounted", "/proc")
    .option("--cache-file <path>", "restore the cache from this file and save it back (with PATH.stamps)")
    .option(
      "--save-interval <seconds>",
      "with --cache-file, also save every this many seconds",
      integerOption("--save-interval", Math.floor(MAX_INTERVAL_MS / 1000)),
    )
    .option("--reset-cache", "with --cache-file, replace a cache file that cannot be read or understood");
}

let stopSaving = async (): Promise<void> => {};
let stdoutClosed = false;

function print(text: string): void {
  if (!stdoutClosed) process.stdout.write(text);
}

function complain(error: unknown): void {
  process.stderr.write(`buildid-cache: ${error instanceof Error ? error.message : String(error)}\n`);
}

// Saves the cache file (once, however often called) and says so in the exit status when it fails.
async function save(): Promise<boolean> {
  try {
    await stopSaving();
    return true;
  } catch (error) {
    complain(error);
    process.exitCode = EXIT.cacheNotSaved;
    return false;
  }
}

async function exitSaving(status: number): Promise<void> {
  const saved = await save();
  process.exit(saved || status !== EXIT.ok ? status : EXIT.cacheNotSaved);
}

process.once("SIGINT", () => void exitSaving(EXIT.SIGINT));
process.once("SIGTERM", () => void exitSaving(EXIT.SIGTERM));
// Behind `head`, as coreutils do: stop printing, save, exit 0.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  if (stdoutClosed) return;
  stdoutClosed = true;
  void exitSaving(EXIT.ok);
});

// Opens the resolver the options ask for and arranges for it to be saved at the end.
async function openResolver(options: CacheOptions): Promise<BuildIdResolver> {
  const settings = { capacity: options.capacity, procRoot: options.proc };
  if (options.cacheFile === undefined) {
    if (options.saveInterval !== undefined) throw new InvalidArgumentError("--save-interval needs --cache-file");
    if (options.resetCache) throw new InvalidArgumentError("--reset-cache needs --cache-file");
    return BuildIdResolver.create(settings);
  }
  let resolver: BuildIdResolver;
  try {
    resolver = await loadResolver(options.cacheFile, settings);
  } catch (error) {
    const regular = (error as { cause?: { code?: string } }).cause?.code !== "ENOTREG";
    if (!(error instanceof CacheFileRefusedError && options.resetCache && regular)) throw error;
    process.stderr.write(`buildid-cache: replacing ${error.path}: ${(error.cause as Error).message}\n`);
    resolver = await BuildIdResolver.create(settings);
  }
  const intervalMs = options.saveInterval === undefined ? undefined : options.saveInterval * 1000;
  stopSaving = persistResolver(resolver, options.cacheFile, { intervalMs, reset: options.resetCache === true });
  return resolver;
}

function progressBar(enabled: boolean): { update(p: CensusProgress): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "{phase} [{bar}] {value}/{total}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | undefined;
  const names = { files: "reading mmapped files  ", mappings: "resolving exec mappings" };
  return {
    update(p) {
      if (p.phase !== phase) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, { phase: names[p.phase] });
      } else bar.update(p.done);
    },
    stop() {
      if (phase !== undefined) bar.stop();
    },
  };
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

function resolutionJson(address: bigint, r: Resolution): Record<string, unknown> {
  const where = { path: r.path, fileOffset: r.fileOffset === undefined ? undefined : hex(r.fileOffset) };
  return r.ok
    ? { address: hex(address), ok: true, buildId: r.buildId, ...where, cached: r.cached }
    : { address: hex(address), ok: false, reason: r.reason, detail: r.detail, ...where };
}

interface AnnotateOptions {
  output: string;
  pid?: number;
  maxProfileBytes: number;
  json?: boolean;
}

const program = new Command()
  .name("buildid-cache")
  .description("ELF build IDs of live processes and pprof files, through a WebAssembly cache keyed by (device, inode)")
  .version(version)
  .showHelpAfterError();

withCacheOptions(
  program
    .command("census", { isDefault: true })
    .description(
      "count struct files and inodes against mmapped ELF objects on this machine, and what each design costs",
    )
    .option("--json", "print JSON instead of the report")
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal or with --json)"),
).action(async (options: CacheOptions & { json?: boolean; progress: boolean }) => {
  const resolver = await openResolver(options);
  const bar = progressBar(options.progress && !options.json && process.stderr.isTTY === true);
  try {
    const census = await takeCensus({ procRoot: options.proc, resolver, onProgress: (p) => bar.update(p) });
    bar.stop();
    print(options.json ? `${JSON.stringify(census, null, 2)}\n` : formatCensus(census));
  } finally {
    bar.stop();
    await save();
  }
});

withCacheOptions(
  program
    .command("resolve")
    .description("build ID, file and file offset of addresses in a live process")
    .argument("<pid>", "process ID", integerOption("pid"))
    .argument("<address...>", "addresses, hex (0x...) or decimal", address)
    .option("--json", "print JSON"),
).action(async (pid: number, addresses: bigint[], options: CacheOptions & { json?: boolean }) => {
  const resolver = await openResolver(options);
  try {
    const results = await resolver.resolveMany(pid, addresses);
    if (options.json) {
      print(
        `${JSON.stringify(
          results.map((r, i) => resolutionJson(addresses[i]!, r)),
          null,
          2,
        )}\n`,
      );
      return;
    }
    const rows = results.map((r, i) => [
      hex(addresses[i]!),
      r.ok ? r.buildId : r.reason,
      r.path === undefined ? (r.ok ? "" : r.detail) : `${r.path}+${hex(r.fileOffset!)}`,
    ]);
    const widths = [0, 1].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
    for (const row of rows) print(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}\n`);
  } finally {
    await save();
  }
});

withCacheOptions(
  program
    .command("annotate")
    .description("fill the empty Mapping.build_id fields of a pprof profile")
    .argument("<input>", "pprof file, gzip-compressed or not")
    .requiredOption("-o, --output <file>", "where to write the profile (gzip-compressed when it ends in .gz)")
    .option(
      "--pid <pid>",
      "the live process the profile came from: read its files by device and inode",
      integerOption("--pid"),
    )
    .option(
      "--max-profile-bytes <n>",
      "the most bytes to read or decompress the profile to",
      integerOption("--max-profile-bytes"),
      DEFAULT_PROFILE_LIMIT,
    )
    .option("--json", "print the report as JSON (ids as decimal strings, exact past 2^53)"),
).action(async (input: string, options: CacheOptions & AnnotateOptions) => {
  const resolver = await openResolver(options);
  try {
    const lookup = { maxBytes: options.maxProfileBytes, ...(options.pid === undefined ? {} : { pid: options.pid }) };
    const report = await annotateProfileFile(input, options.output, resolver, lookup);
    if (options.json) {
      const plain = JSON.stringify(report, (_, v) => (typeof v === "bigint" ? String(v) : v), 2);
      print(`${plain}\n`);
      return;
    }
    const { filled, skipped, alreadySet } = report;
    print(
      `${options.output}: ${filled.length} build IDs filled, ${skipped.length} skipped, ${alreadySet} already set\n`,
    );
    for (const m of filled) print(`  filled   ${m.buildId}  ${m.filename}\n`);
    for (const m of skipped) print(`  skipped  ${m.filename || `mapping ${m.id}`}: ${m.reason}\n`);
  } finally {
    await save();
  }
});

registerStoreCommands(program);
registerDebuginfodCommands(program, (stop) => {
  stopSaving = stop;
});

try {
  await program.parseAsync();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`buildid-cache: ${message}\n`);
  process.exitCode =
    error instanceof ProcUnavailableError
      ? EXIT.noProc
      : error instanceof CacheFileRefusedError
        ? EXIT.cacheRefused
        : EXIT.error;
}
