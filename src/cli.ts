#!/usr/bin/env node
// The buildid-cache command: a thin layer over src/node/. `census` is the default command.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError } from "commander";
import { type CensusProgress, formatCensus, ProcUnavailableError, takeCensus } from "./node/census.js";
import { annotateProfileFile } from "./node/pprof-file.js";
import { BuildIdResolver, type Resolution } from "./node/resolver.js";
import { loadResolver, persistResolver } from "./node/resolver-file.js";

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

interface CacheOptions {
  capacity: number;
  proc: string;
  cacheFile?: string;
  saveInterval?: number;
}

function positiveInteger(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
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
    .option("--capacity <n>", "build IDs the cache holds", positiveInteger("--capacity"), 16_384)
    .option("--proc <dir>", "where procfs is mounted", "/proc")
    .option("--cache-file <path>", "restore the cache from this file and save it back (with PATH.stamps)")
    .option(
      "--save-interval <seconds>",
      "with --cache-file, also save every this many seconds",
      positiveInteger("--save-interval"),
    );
}

// Opens the resolver the options ask for and returns it with the function that saves it at the end.
async function openResolver(options: CacheOptions): Promise<[BuildIdResolver, () => Promise<void>]> {
  const settings = { capacity: options.capacity, procRoot: options.proc };
  if (options.cacheFile === undefined) {
    if (options.saveInterval !== undefined) throw new InvalidArgumentError("--save-interval needs --cache-file");
    return [await BuildIdResolver.create(settings), async () => {}];
  }
  let resolver: BuildIdResolver;
  try {
    resolver = await loadResolver(options.cacheFile, settings);
  } catch (error) {
    process.stderr.write(`buildid-cache: ignoring ${options.cacheFile}: ${(error as Error).message}\n`);
    resolver = await BuildIdResolver.create(settings);
  }
  const intervalMs = options.saveInterval === undefined ? undefined : options.saveInterval * 1000;
  return [resolver, persistResolver(resolver, options.cacheFile, { intervalMs })];
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
  const [resolver, save] = await openResolver(options);
  const bar = progressBar(options.progress && !options.json && process.stderr.isTTY === true);
  try {
    const census = await takeCensus({ procRoot: options.proc, resolver, onProgress: (p) => bar.update(p) });
    bar.stop();
    process.stdout.write(options.json ? `${JSON.stringify(census, null, 2)}\n` : formatCensus(census));
  } finally {
    bar.stop();
    await save();
  }
});

withCacheOptions(
  program
    .command("resolve")
    .description("build ID, file and file offset of addresses in a live process")
    .argument("<pid>", "process ID", positiveInteger("pid"))
    .argument("<address...>", "addresses, hex (0x...) or decimal", address)
    .option("--json", "print JSON"),
).action(async (pid: number, addresses: bigint[], options: CacheOptions & { json?: boolean }) => {
  const [resolver, save] = await openResolver(options);
  try {
    const results = await resolver.resolveMany(pid, addresses);
    if (options.json) {
      process.stdout.write(
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
    for (const row of rows)
      process.stdout.write(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}\n`);
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
      positiveInteger("--pid"),
    )
    .option("--json", "print the report as JSON"),
).action(async (input: string, options: CacheOptions & { output: string; pid?: number; json?: boolean }) => {
  const [resolver, save] = await openResolver(options);
  try {
    const pid = options.pid === undefined ? {} : { pid: options.pid };
    const report = await annotateProfileFile(input, options.output, resolver, pid);
    if (options.json) {
      const plain = JSON.stringify(report, (_, v) => (typeof v === "bigint" ? Number(v) : v), 2);
      process.stdout.write(`${plain}\n`);
      return;
    }
    const { filled, skipped, alreadySet } = report;
    process.stdout.write(
      `${options.output}: ${filled.length} build IDs filled, ${skipped.length} skipped, ${alreadySet} already set\n`,
    );
    for (const m of filled) process.stdout.write(`  filled   ${m.buildId}  ${m.filename}\n`);
    for (const m of skipped) process.stdout.write(`  skipped  ${m.filename || `mapping ${m.id}`}: ${m.reason}\n`);
  } finally {
    await save();
  }
});

program
  .command("bench")
  .description("run the benchmark suite (npm run bench); arguments are passed through, e.g. --quick --json")
  .argument("[args...]", "arguments for the benchmarks")
  .allowUnknownOption()
  .helpOption(false)
  .action((args: string[]) => {
    const child = spawn("npm", ["run", "bench", "--", ...args], { cwd: packageRoot, stdio: "inherit" });
    child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  });

try {
  await program.parseAsync();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`buildid-cache: ${message}\n`);
  process.exitCode = error instanceof ProcUnavailableError ? 2 : 1;
}
