/**
 * The options of the commands that resolve through a cache (`census`, `resolve`, `annotate`) and the
 * resolver they open.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { CacheFileRefusedError } from "../cache-file.js";
import { loadResolver, persistResolver } from "../resolver/persist.js";
import { BuildIdResolver } from "../resolver/resolver.js";
import { MAX_INTERVAL_MS } from "../snapshot-file.js";
import {
  COMMON_EXITS,
  type CommandContext,
  EXIT,
  type ExitStatus,
  fileOption,
  integerOption,
  UsageError,
} from "./shared.js";

/** The options {@link withCacheOptions} adds, as commander parses them. */
export interface CacheOptions {
  /** Build IDs the cache holds. */
  capacity: number;
  /** Where procfs is mounted. */
  proc: string;
  /** Restore the cache from this file and save it back. */
  cacheFile?: string;
  /** With `cacheFile`, also save every this many seconds. */
  saveInterval?: number;
  /** With `cacheFile`, replace a file that cannot be read or understood. */
  resetCache?: boolean;
}

/** The exit statuses of a command that resolves through a cache and reads procfs. */
export const CACHE_EXITS: readonly ExitStatus[] = [
  ...COMMON_EXITS,
  EXIT.cacheRefused,
  EXIT.cacheNotSaved,
  EXIT.noProcfs,
].sort((a, b) => a - b);

/** Adds the cache options ({@link CacheOptions}) to `command` and returns it. */
export function withCacheOptions(command: Command): Command {
  return command
    .option("--capacity <n>", "build IDs the cache holds", integerOption("--capacity"), 16_384)
    .option("--proc <dir>", "where procfs is mounted", "/proc")
    .option(
      "--cache-file <path>",
      "restore the cache from this file and save it back (with PATH.stamps)",
      fileOption("--cache-file"),
    )
    .option(
      "--save-interval <seconds>",
      "with --cache-file, also save every this many seconds",
      integerOption("--save-interval", 1, Math.floor(MAX_INTERVAL_MS / 1000)),
    )
    .option("--reset-cache", "with --cache-file, replace a cache file that cannot be read or understood");
}

/** Opens the resolver `options` ask for and hands its saving to `context`. */
export async function openResolver(options: CacheOptions, context: CommandContext): Promise<BuildIdResolver> {
  const settings = { capacity: options.capacity, procRoot: options.proc };
  if (options.cacheFile === undefined) {
    if (options.saveInterval !== undefined) throw new UsageError("--save-interval needs --cache-file");
    if (options.resetCache) throw new UsageError("--reset-cache needs --cache-file");
    return BuildIdResolver.create(settings);
  }
  let resolver: BuildIdResolver;
  try {
    resolver = await loadResolver(options.cacheFile, settings);
  } catch (error) {
    const regular = (error as { cause?: { code?: string } }).cause?.code !== "ENOTREG";
    if (!(error instanceof CacheFileRefusedError && options.resetCache && regular)) throw error;
    context.output.err(`buildid-cache: replacing ${error.path}: ${(error.cause as Error).message}\n`);
    resolver = await BuildIdResolver.create(settings);
  }
  const intervalMs = options.saveInterval === undefined ? undefined : options.saveInterval * 1000;
  context.onStop(persistResolver(resolver, options.cacheFile, { intervalMs, reset: options.resetCache === true }));
  return resolver;
}
