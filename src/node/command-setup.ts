/**
 * What every run of the command sets up before it runs one, and how a data command's line ends:
 * shared by the program (./program.ts) and the CommonJS bundles the launcher requires for `pprof` and
 * `buildid-list` (./launch-pprof.ts, ./launch-buildid-list.ts).
 *
 * @packageDocumentation
 */
import {
  type CommandContext,
  closeStandardOutput,
  commandContext,
  EXIT,
  errorText,
  exitStatusOf,
} from "./commands/shared.js";

/** The context the commands run in, with SIGINT, SIGTERM and a closed standard output saving the cache and exiting. */
export function startCommand(): CommandContext {
  const context = commandContext();
  const exitSaving = async (status: number): Promise<void> => {
    const saved = await context.finish();
    process.exit(saved || status !== EXIT.ok ? status : EXIT.cacheNotSaved);
  };
  process.once("SIGINT", () => void exitSaving(EXIT.SIGINT));
  process.once("SIGTERM", () => void exitSaving(EXIT.SIGTERM));
  // Behind `head`, as coreutils do: stop printing, save, exit 0.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    if (closeStandardOutput()) void exitSaving(EXIT.ok);
  });
  return context;
}

/** Runs a data command's line: its error on standard error, as ours, and its exit status. */
export async function runDataLine(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    process.stderr.write(`buildid-cache: ${errorText(error)}\n`);
    process.exitCode = exitStatusOf(error);
  }
}
