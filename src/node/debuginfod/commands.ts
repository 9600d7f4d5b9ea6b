// The `serve` and `find` commands, registered on the CLI's commander program by registerDebuginfodCommands.
import { type Command, InvalidArgumentError } from "commander";
import type { Artifact } from "./artifact.js";
import { BuildIdIndex, type ScanStats } from "./build-id-index.js";
import { findArtifact } from "./client.js";
import { MAX_RESCAN_SECONDS, serveDebuginfod } from "./server.js";

/** Seconds between the end of one scan and the next when `serve -t` is not given: elfutils' default. */
const RESCAN_SECONDS = 300;

function integerOption(what: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) {
      throw new InvalidArgumentError(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function openIndex(
  roots: string[],
  file: string | undefined,
  scan: boolean,
  progress: boolean,
): Promise<BuildIdIndex> {
  const options = roots.length ? { roots } : {};
  const index = file ? await BuildIdIndex.load(file, options) : await BuildIdIndex.create(options);
  if (scan) {
    report(await index.scan({ progress }));
    if (file) await index.save(file);
  }
  return index;
}

function report(s: ScanStats): void {
  process.stderr.write(
    `indexed ${s.buildIds} build IDs (${s.executables} executables, ${s.debuginfo} debuginfo) in ${s.files} files ` +
      `under ${s.roots} roots: ${s.reads} read, ${s.reused} unchanged, ${s.removed} gone, ${s.unreadable} unreadable, ${Math.round(s.durationMs)} ms\n`,
  );
}

/** How the CLI learns what to finish before it exits on SIGINT or SIGTERM. */
export type OnStop = (stop: () => Promise<void>) => void;

/**
 * Adds `serve [ROOT...]` (the debuginfod web API over an index of the roots) and
 * `find executable|debuginfo|section ID [NAME]` (local index, cache, then `DEBUGINFOD_URLS`) to
 * `program`; `serve` hands its shutdown to `onStop`, which the CLI runs on SIGINT or SIGTERM.
 */
export function registerDebuginfodCommands(program: Command, onStop: OnStop): Command {
  program
    .command("serve")
    .description(
      "serve the debuginfod web API (/buildid/ID/executable, /debuginfo, /section/NAME, /metrics) over an index of ROOTs",
    )
    .argument(
      "[roots...]",
      "directories to index (default: /usr/lib/debug/.build-id, /usr/bin, /usr/sbin, /usr/lib, /usr/libexec, /lib, /opt)",
    )
    .option("--port <n>", "TCP port (0: any free one)", integerOption("--port", 0, 65535), 8002)
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option("--index <file>", "load the index from this file, rescan only what changed, and save it back")
    .option(
      "-t, --rescan-time <seconds>",
      "rescan this long after each scan ends (0: only the first scan); SIGUSR1 rescans at once",
      integerOption("--rescan-time", 0, MAX_RESCAN_SECONDS),
      RESCAN_SECONDS,
    )
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)")
    .action(
      async (
        roots: string[],
        options: { port: number; host: string; index?: string; rescanTime: number; progress: boolean },
      ) => {
        const index = await openIndex(roots, options.index, true, options.progress);
        const { index: file } = options;
        const server = await serveDebuginfod(index, {
          port: options.port,
          host: options.host,
          rescanSeconds: options.rescanTime,
          onRescan: async (stats) => {
            if (stats.reads === 0 && stats.removed === 0) return;
            report(stats);
            if (file) await index.save(file);
          },
          onRescanError: (error) =>
            process.stderr.write(`buildid-cache: rescan failed: ${error instanceof Error ? error.message : error}\n`),
        });
        const rescan = (): void => void server.rescan().catch(() => {});
        process.on("SIGUSR1", rescan);
        onStop(async () => {
          process.off("SIGUSR1", rescan);
          await server.close();
          index.dispose();
        });
        process.stdout.write(`serving ${server.url}\n`);
        await new Promise<never>(() => {}); // serves until SIGINT or SIGTERM, which exit through onStop
      },
    );
  program
    .command("find")
    .description(
      "print the path of a build ID's executable, debuginfo or section: local index, then the cache, then DEBUGINFOD_URLS",
    )
    .argument("<artifact>", "executable, debuginfo or section")
    .argument("<buildid>", "the build ID in hex")
    .argument("[section]", "the section name, for section")
    .option("--root <dir>", "index this directory first (repeatable)", collect, [])
    .option("--index <file>", "ask the index saved in this file (by serve --index) first")
    .option(
      "--timeout <seconds>",
      "give up on a server after this long without progress",
      integerOption("--timeout", 1, 86_400),
    )
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)")
    .action(
      async (
        artifact: Artifact,
        buildId: string,
        section: string | undefined,
        options: { root: string[]; index?: string; timeout?: number; progress: boolean },
      ) => {
        const local = options.root.length || options.index;
        const index = local
          ? await openIndex(options.root, options.index, options.root.length > 0, options.progress)
          : undefined;
        try {
          const found = await findArtifact(artifact, buildId, {
            ...(section === undefined ? {} : { section }),
            ...(index ? { index } : {}),
            ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout * 1000 }),
            progress: options.progress,
          });
          process.stdout.write(`${found.path}\n`);
        } finally {
          index?.dispose();
        }
      },
    );
  return program;
}
