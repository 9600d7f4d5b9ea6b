/**
 * `serve [ROOT...]`: the debuginfod web API over an index of the roots.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { MAX_RESCAN_SECONDS, serveDebuginfod } from "../debuginfod/server.js";
import { withHelpSections } from "./help.js";
import { openIndex, reportScan } from "./local-index.js";
import { COMMON_EXITS, type CommandContext, fileOption, integerOption } from "./shared.js";

/** Seconds between the end of one scan and the next when `serve -t` is not given: elfutils' default. */
const RESCAN_SECONDS = 300;

/** Adds `serve` to `program` and returns it; the server's shutdown goes to the context's `onStop`. */
export function registerServe(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("serve")
    .summary("serve the debuginfod web API over an index of ROOTs")
    .description(
      "serve the debuginfod web API (/buildid/ID/executable, /debuginfo, /section/NAME, /metrics) over an index of ROOTs",
    )
    .argument(
      "[roots...]",
      "directories to index (default: /usr/lib/debug/.build-id, /usr/bin, /usr/sbin, /usr/lib, /usr/libexec, /lib, /opt)",
    )
    .option("--port <n>", "TCP port (0: any free one)", integerOption("--port", 0, 65535), 8002)
    .option("--host <address>", "address to bind", "127.0.0.1")
    .option(
      "--index <file>",
      "load the index from this file, rescan only what changed, and save it back",
      fileOption("--index"),
    )
    .option(
      "-t, --rescan-time <seconds>",
      "rescan this long after each scan ends (0: only the first scan); SIGUSR1 rescans at once",
      integerOption("--rescan-time", 0, MAX_RESCAN_SECONDS),
      RESCAN_SECONDS,
    )
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)")
    .option("--json", 'print the address served as one line of JSON, {"url": "http://HOST:PORT"}')
    .action(
      async (
        roots: string[],
        options: { port: number; host: string; index?: string; rescanTime: number; progress: boolean; json?: boolean },
      ) => {
        const index = await openIndex(roots, options.index, true, options.progress, output);
        const { index: file } = options;
        const server = await serveDebuginfod(index, {
          port: options.port,
          host: options.host,
          rescanSeconds: options.rescanTime,
          onRescan: async (stats) => {
            if (stats.reads === 0 && stats.removed === 0) return;
            reportScan(stats, output);
            if (file) await index.save(file);
          },
          onRescanError: (error) =>
            output.err(`buildid-cache: rescan failed: ${error instanceof Error ? error.message : error}\n`),
        });
        const rescan = (): void => void server.rescan().catch(() => {});
        process.on("SIGUSR1", rescan);
        context.onStop(async () => {
          process.off("SIGUSR1", rescan);
          await server.close();
          index.dispose();
        });
        output.out(options.json ? `${JSON.stringify({ url: server.url })}\n` : `serving ${server.url}\n`);
        await new Promise<never>(() => {}); // serves until SIGINT or SIGTERM, which exit through onStop
      },
    );
  withHelpSections(command, {
    examples: [
      ["buildid-cache serve", "serve the default roots on 127.0.0.1:8002, rescanning every 300 s"],
      [
        "buildid-cache serve --port 0 --json --index idx.bin /srv/builds",
        "any free port, printed as JSON; the index kept in idx.bin across restarts",
      ],
      ["DEBUGINFOD_URLS=http://127.0.0.1:8002 gdb ./app", "a debuginfod client (gdb, debuginfod-find) asking it"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
