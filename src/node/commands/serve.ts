/**
 * `serve [ROOT...]`: the debuginfod web API over an index of the roots, listening at once and
 * scanning behind it.
 *
 * @packageDocumentation
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { BuildIdIndex, DEFAULT_WRITE_BATCH, MAX_SCAN_THREADS } from "../debuginfod/build-id-index.js";
import { isServingProcess, POOL_DATABASE_ENV, serveInPool, startPool } from "../debuginfod/pool.js";
import {
  type DebuginfodServer,
  MAX_RESCAN_SECONDS,
  type ServiceOptions,
  serveDebuginfod,
} from "../debuginfod/server.js";
import { checkUpstreamUrl, FORWARDED_TTL_LIMIT, UPSTREAM_CONCURRENCY } from "../debuginfod/upstream.js";
import { type Command, InvalidArgumentError } from "./commander.js";
import { withHelpSections } from "./help.js";
import { openIndex, reportScan, scanProgress } from "./local-index.js";
import { COMMON_EXITS, type CommandContext, fileOption, integerOption, UsageError } from "./shared.js";

/** Seconds between the end of one scan and the next when `serve -t` is not given: elfutils' default. */
const RESCAN_SECONDS = 300;

/** Seconds between grooms when `serve -g` is not given: elfutils' default, a day. */
const GROOM_SECONDS = 86_400;

/** A commander parser collecting the regular expressions of a repeatable option, naming `what` when one is refused. */
function regexOption(what: string) {
  return (value: string, previous: RegExp[] = []): RegExp[] => {
    try {
      return [...previous, new RegExp(value)];
    } catch (error) {
      throw new InvalidArgumentError(
        `${what} must be a regular expression, got ${JSON.stringify(value)}: ${(error as Error).message}`,
      );
    }
  };
}

interface ServeCommandOptions {
  port: number;
  host: string;
  index?: string;
  passive?: boolean;
  include?: RegExp[];
  exclude?: RegExp[];
  rescanTime: number;
  groomTime: number;
  scanBatch: number;
  scanFileDir?: boolean;
  scanDebDir?: boolean;
  scanRpmDir?: boolean;
  disableSourceScan?: boolean;
  progress: boolean;
  json?: boolean;
  upstream: string[];
  forwardedTtlLimit: number;
  upstreamConcurrency: number;
  maxConnections: number;
  maxConnectionsPerClient?: number;
  servingProcesses: number;
  concurrency?: number;
  verbose?: boolean;
}

function collectUrl(value: string, previous: string[]): string[] {
  try {
    return [...previous, checkUpstreamUrl(value)];
  } catch (error) {
    throw new InvalidArgumentError(`--upstream: ${(error as Error).message}`);
  }
}

// DEBUGINFOD_URLS as elfutils splits it, each checked before the scan rather than at the first miss.
function environmentUrls(): string[] {
  const urls = (process.env.DEBUGINFOD_URLS ?? "").split(/\s+/).filter(Boolean);
  for (const url of urls) {
    try {
      checkUpstreamUrl(url);
    } catch (error) {
      throw new UsageError(`DEBUGINFOD_URLS: ${(error as Error).message}`);
    }
  }
  return urls;
}

/** The most serving processes `serve -j` takes. */
const MAX_SERVING_PROCESSES = 256;

/**
 * `serve -j` when not given: this process alone (README, `-j N`: -j 2 answered hits at 0.37-0.46x of it).
 */
const DEFAULT_SERVING_PROCESSES = 1;

// A serving process of `serve -j N`: the primary's command line, answering over its database read-only.
async function serveAsMember(options: ServeCommandOptions, context: CommandContext): Promise<never> {
  const upstreams = options.upstream.length ? options.upstream : environmentUrls();
  // Signals a terminal or `kill -PGID` sends the whole group are the primary's to act on; SIGTERM to this one alone ends it.
  process.removeAllListeners("SIGINT");
  for (const signal of ["SIGINT", "SIGUSR1", "SIGUSR2"] as const) process.on(signal, () => {});
  const index = await BuildIdIndex.open(process.env[POOL_DATABASE_ENV]!, { readonly: true });
  const stop = serveInPool(index, serviceOptions(options, upstreams, context));
  context.onStop(async () => {
    await stop();
    index.dispose();
  });
  return new Promise<never>(() => {});
}

// What a serving process needs of the command line: federation and the request log.
function serviceOptions(options: ServeCommandOptions, upstreams: string[], context: CommandContext): ServiceOptions {
  return {
    ...(upstreams.length
      ? {
          upstream: {
            urls: upstreams,
            forwardedTtlLimit: options.forwardedTtlLimit,
            concurrency: options.upstreamConcurrency,
          },
        }
      : {}),
    ...(options.verbose ? { requestLog: (line: string) => context.output.err(`${line}\n`) } : {}),
  };
}

/** Adds `serve` to `program` and returns it; the server's shutdown goes to the context's `onStop`. */
export function registerServe(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("serve")
    .summary("serve the debuginfod web API over an index of ROOTs")
    .description(
      "serve the debuginfod web API (/buildid/ID/executable, /debuginfo, /section/NAME, /metrics) over an index of ROOTs: it listens at once, answers from what the index holds, and scans behind it",
    )
    .argument(
      "[roots...]",
      "directories to index (default: those of /usr/lib/debug/.build-id, /usr/bin, /usr/sbin, /usr/lib, /usr/libexec, /lib, /opt that exist)",
    )
    .option("--port <n>", "TCP port (0: any free one)", integerOption("--port", 0, 65535), 8002)
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option(
      "--index <file>",
      "keep the index in this SQLite database (made with its folders if missing): answered from at once after a restart, rescanned behind it",
      fileOption("--index"),
    )
    .option(
      "--passive",
      "a replica: answer from --index as another serve's scans write it, scanning nothing (elfutils' --passive)",
    )
    .option(
      "-I, --include <regex>",
      "index only files whose path matches (repeatable: any of them; elfutils' -I)",
      regexOption("--include"),
    )
    .option(
      "-X, --exclude <regex>",
      "leave out files whose path matches (repeatable; elfutils' -X); wins over --include",
      regexOption("--exclude"),
    )
    .option(
      "-t, --rescan-time <seconds>",
      "rescan this long after each scan ends (0: only the first scan); SIGUSR1 rescans at once",
      integerOption("--rescan-time", 0, MAX_RESCAN_SECONDS),
      RESCAN_SECONDS,
    )
    .option(
      "-g, --groom-time <seconds>",
      "drop files gone from the roots this long after each groom ends, without a walk (0: never); SIGUSR2 grooms at once",
      integerOption("--groom-time", 0, MAX_RESCAN_SECONDS),
      GROOM_SECONDS,
    )
    .option(
      "--scan-batch <files>",
      "files a scan writes to the database in one transaction, at most",
      integerOption("--scan-batch", 1, 1_000_000),
      DEFAULT_WRITE_BATCH,
    )
    .option("-F, --scan-file-dir", "read ELF files (elfutils' -F); with none of -F, -U, -R: all three kinds")
    .option("-U, --scan-deb-dir", "read .deb and .ddeb packages (elfutils' -U)")
    .option("-R, --scan-rpm-dir", "read .rpm packages (elfutils' -R)")
    .option(
      "--disable-source-scan",
      "record no sources from debuginfo line tables, so /source answers nothing new (elfutils' --disable-source-scan)",
    )
    .option("--no-progress", "no progress: neither the bar on a terminal nor the lines every 5 s elsewhere")
    .option("--json", 'print the address served as one line of JSON, {"url": "http://HOST:PORT"}')
    // Federation and operations: upstreams, hop limit, limits, request log.
    .option(
      "--upstream <url>",
      "forward what the index does not hold to this debuginfod server (repeatable; default: DEBUGINFOD_URLS)",
      collectUrl,
      [],
    )
    .option(
      "--forwarded-ttl-limit <n>",
      "forward no request whose X-Forwarded-For already names this many hops, as elfutils (0: forward nothing)",
      integerOption("--forwarded-ttl-limit", 0, 1000),
      FORWARDED_TTL_LIMIT,
    )
    .option(
      "--upstream-concurrency <n>",
      "most upstream queries at once (per X-Forwarded-For depth); the rest wait their turn",
      integerOption("--upstream-concurrency"),
      UPSTREAM_CONCURRENCY,
    )
    .option(
      "--max-connections <n>",
      "most connections open at once; more are closed on arrival",
      integerOption("--max-connections"),
      4096,
    )
    .option(
      "--max-connections-per-client <n>",
      "most connections open at once from one address (IPv6: its /64) (default: --max-connections / 64)",
      integerOption("--max-connections-per-client"),
    )
    .option(
      "-j, --serving-processes <n>",
      "processes answering requests (1: this one alone; more: it scans and hands them the connections, as elfutils' --connection-pool threads; each takes about 60 MB of RSS)",
      integerOption("--serving-processes", 1, MAX_SERVING_PROCESSES),
      DEFAULT_SERVING_PROCESSES,
    )
    .option(
      "-c, --concurrency <n>",
      "most threads that rescan (list folders, read files) beside the one that serves and writes the index, as elfutils' -c; the first scan runs on the serving thread, one starts with each rescan, another only while files wait and a CPU is idle, and each ends after 2 s idle (default: the CPUs)",
      integerOption("--concurrency", 1, MAX_SCAN_THREADS),
    )
    .option("-v, --verbose", "a log line per request on stderr: client, request, status, bytes, ms, where from")
    .action(async (roots: string[], options: ServeCommandOptions) => {
      // Scans' garbage grew the young generation to 32 MiB (Node 20).
      setFlagsFromString("--semi-space-growth-factor=1");
      if (isServingProcess()) return serveAsMember(options, context);
      const upstreams = options.upstream.length ? options.upstream : environmentUrls();
      const pooled = options.servingProcesses > 1;
      // Serving processes read the index from a database: without --index, one of this server's own until it stops.
      const scratch =
        pooled && options.index === undefined && !options.passive
          ? mkdtempSync(join(tmpdir(), "buildid-cache-serve-"))
          : undefined;
      const file = scratch === undefined ? options.index : join(scratch, "index.sqlite");
      let index: BuildIdIndex;
      try {
        index = await openIndex({
          roots,
          ...(file === undefined ? {} : { file }),
          passive: options.passive ?? false,
          ...(options.include ? { include: options.include } : {}),
          ...(options.exclude ? { exclude: options.exclude } : {}),
          writeBatch: options.scanBatch,
          ...(options.scanFileDir || options.scanDebDir || options.scanRpmDir
            ? {
                scanners: {
                  files: options.scanFileDir ?? false,
                  deb: options.scanDebDir ?? false,
                  rpm: options.scanRpmDir ?? false,
                },
              }
            : {}),
          sources: !options.disableSourceScan,
          ...(options.concurrency === undefined ? {} : { scanThreads: options.concurrency }),
        });
      } catch (error) {
        if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
        throw error;
      }
      const progress = scanProgress(output, options.progress);
      let first = true;
      const pool = pooled
        ? startPool({
            processes: options.servingProcesses,
            database: file!,
            onExit: (pid, how, pauseMs) =>
              output.err(
                `buildid-cache: serving process ${pid} exited (${how}); starting another${pauseMs ? ` in ${pauseMs} ms` : ""}\n`,
              ),
          })
        : undefined;
      let server: DebuginfodServer;
      try {
        server = await serveDebuginfod(index, {
          port: options.port,
          host: options.host,
          maxConnections: options.maxConnections,
          ...(options.maxConnectionsPerClient === undefined
            ? {}
            : { maxConnectionsPerClient: options.maxConnectionsPerClient }),
          ...serviceOptions(options, upstreams, context),
          ...(pool ? { pool } : {}),
          scanAtStart: true,
          rescanSeconds: options.rescanTime,
          groomSeconds: options.groomTime,
          onScanProgress: progress.update,
          onRescan: (stats) => {
            progress.done();
            if (first || stats.reads > 0 || stats.removed > 0) reportScan(stats, output);
            first = false;
          },
          onRescanError: (error) => {
            progress.done();
            output.err(`buildid-cache: rescan failed: ${error instanceof Error ? error.message : error}\n`);
          },
          onGroom: (stats) => {
            if (stats.removed > 0)
              output.err(
                `groomed: ${stats.removed} of ${stats.checked} files gone, ${Math.round(stats.durationMs)} ms\n`,
              );
          },
        });
      } catch (error) {
        await pool?.close();
        index.dispose();
        if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
        throw error;
      }
      const rescan = (): void => void server.rescan().catch(() => {});
      const groom = (): void => void server.groom().catch(() => {});
      process.on("SIGUSR1", rescan);
      process.on("SIGUSR2", groom);
      context.onStop(async () => {
        process.off("SIGUSR1", rescan);
        process.off("SIGUSR2", groom);
        await server.close();
        progress.done();
        index.dispose();
        if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
      });
      if (upstreams.length) output.err(`buildid-cache: forwarding misses to ${upstreams.join(" ")}\n`);
      output.out(options.json ? `${JSON.stringify({ url: server.url })}\n` : `serving ${server.url}\n`);
      await new Promise<never>(() => {}); // serves until SIGINT or SIGTERM, which exit through onStop
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache serve", "serve the default roots on 127.0.0.1:8002, rescanning every 300 s"],
      [
        "buildid-cache serve --port 0 --json --index ~/.cache/buildid-cache/index.sqlite /srv/builds",
        "any free port, printed as JSON; the index kept in a database across restarts",
      ],
      [
        "buildid-cache serve --passive --index ~/.cache/buildid-cache/index.sqlite --port 8003",
        "a second server answering from the same database, which the first one scans",
      ],
      ["buildid-cache serve -X '\\.a$' /usr/lib", "leave static archives out"],
      [
        "buildid-cache serve -j 8 /srv/builds",
        "eight serving processes on one port; this one scans and hands them the connections",
      ],
      ["DEBUGINFOD_URLS=http://127.0.0.1:8002 gdb ./app", "a debuginfod client (gdb, debuginfod-find) asking it"],
      [
        "buildid-cache serve -v --upstream https://debuginfod.elfutils.org /srv/builds",
        "what /srv/builds lacks fetched from upstream into the client cache; a log line per request",
      ],
    ],
    environment: [
      ["DEBUGINFOD_URLS", "upstream servers, space-separated, when no --upstream is given"],
      ["DEBUGINFOD_CACHE_PATH", "where upstream answers are kept: the cache find and debuginfod-find use"],
      ["DEBUGINFOD_TIMEOUT", "seconds without progress before an upstream is dropped (default 90)"],
      ["DEBUGINFOD_MAXTIME", "seconds for one upstream query (default 1800)"],
      ["DEBUGINFOD_MAXSIZE", "largest upstream answer in bytes (default 4 GiB)"],
      ["DEBUGINFOD_RETRY_LIMIT", "times failed upstreams are asked again (default 2)"],
      ["DEBUGINFOD_HEADERS_FILE", "extra headers for upstream requests, one Name: value a line"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
