/**
 * The data commands (`pprof`, `buildid-list`) and `find` read from a plain command line without
 * commander, which costs a process 20-30 ms to load: their own options, values and operands, as
 * commander takes them.
 * Anything else (help, --version, `--`, an unknown option, a missing value or argument, one too many)
 * is left to commander, which words the error or prints the help.
 *
 * @packageDocumentation
 */
import type { ClientArtifact } from "../debuginfod/client.js";
import type { BuildIdListOptions } from "./buildid-list-run.js";
import type { FindCommandOptions } from "./find-run.js";
import type { PprofOptions } from "./pprof-run.js";
import { type CommandContext, integerOption } from "./shared.js";

/** A data command's line, read. */
export type DataCommandLine =
  | { command: "pprof"; input: string; options: PprofOptions }
  | { command: "buildid-list"; options: BuildIdListOptions }
  | { command: "find"; operands: [ClientArtifact, string, string?]; options: FindCommandOptions };

type Options = Record<string, string | boolean | number | string[]>;

/** One command's options as commander declares them. */
interface Grammar {
  /** Option spellings that take the next argument (or `--long=VALUE`), the key they set, and commander's parser if any (it throws on a bad value: commander's to word). */
  valued: Readonly<Record<string, string | readonly [key: string, parse: (value: string, previous: never) => unknown]>>;
  /** Flag spellings, with the key and the value they set, or a number they add (a counted flag). */
  flags: Readonly<Record<string, readonly [key: string, value: boolean | number]>>;
  /** Values before the line is read (commander's defaults). */
  defaults: Readonly<Options>;
  /** Keys the line must set (commander's requiredOption). */
  required: readonly string[];
  /** How many operands the command takes: at least, at most. */
  operands: readonly [min: number, max: number];
}

const GRAMMARS: Readonly<Record<DataCommandLine["command"], Grammar>> = {
  pprof: {
    valued: { "-o": "output", "--output": "output" },
    flags: {
      "--no-read-files": ["readFiles", false],
      "--trust-paths": ["trustPaths", true],
      "--perf-maps": ["perfMaps", true],
      "--json": ["json", true],
    },
    defaults: { readFiles: true },
    required: ["output"],
    operands: [1, 1],
  },
  "buildid-list": {
    valued: { "-i": "input", "--input": "input" },
    flags: { "-H": ["withHits", true], "--with-hits": ["withHits", true], "--json": ["json", true] },
    defaults: { input: "perf.data" },
    required: [],
    operands: [0, 0],
  },
  find: {
    valued: {
      "--root": ["root", (value: string, previous: string[]) => [...previous, value]],
      "--index": "index",
      "--timeout": ["timeout", integerOption("--timeout", 1, 86_400)],
    },
    flags: {
      "-v": ["verbose", 1],
      "--verbose": ["verbose", 1],
      "--json": ["json", true],
      "--no-progress": ["progress", false],
    },
    defaults: { root: [], verbose: 0, progress: true },
    required: [],
    operands: [2, 3],
  },
};

// What the program itself (help, version) or `--` might take, even as an option's value: commander's.
const COMMANDER_ONLY = /^(?:-h|-V|--help|--version|--$)/;

/** `args` (after the program's name) as a data command's line, or undefined when commander should read it. */
export function parseDataCommandLine(args: readonly string[]): DataCommandLine | undefined {
  const [command, ...given] = args;
  if (command !== "pprof" && command !== "buildid-list" && command !== "find") return undefined;
  const grammar = GRAMMARS[command];
  const options: Options = { ...grammar.defaults };
  const operands: string[] = [];
  const rest = [...given];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (COMMANDER_ONLY.test(arg)) return undefined;
    // A cluster of short flags (`-vv`) is each of them, as commander splits it.
    if (/^-[^-]{2,}$/.test(arg) && [...arg.slice(1)].every((c) => grammar.flags[`-${c}`])) {
      rest.splice(i--, 1, ...[...arg.slice(1)].map((c) => `-${c}`));
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const valued = grammar.valued[eq > 0 ? arg.slice(0, eq) : arg];
    const flag = grammar.flags[arg];
    if (valued !== undefined) {
      const value = eq > 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined || COMMANDER_ONLY.test(value)) return undefined;
      const [key, parse] = typeof valued === "string" ? [valued] : valued;
      try {
        options[key] = parse ? (parse(value, options[key] as never) as string) : value;
      } catch {
        return undefined;
      }
    } else if (flag !== undefined) {
      const [key, value] = flag;
      options[key] = typeof value === "number" ? (options[key] as number) + value : value;
    } else if (arg.length > 1 && arg.startsWith("-")) return undefined;
    else operands.push(arg);
  }
  const [min, max] = grammar.operands;
  if (operands.length < min || operands.length > max || grammar.required.some((key) => !(key in options)))
    return undefined;
  if (command === "find") {
    return {
      command,
      operands: operands as [ClientArtifact, string, string?],
      options: options as unknown as FindCommandOptions,
    };
  }
  return command === "pprof"
    ? { command, input: operands[0]!, options: options as unknown as PprofOptions }
    : { command, options: options as unknown as BuildIdListOptions };
}

/** Runs a data command's line, loading only what that command runs on. */
export async function runDataCommand(line: DataCommandLine, context: CommandContext): Promise<void> {
  if (line.command === "pprof") await (await import("./pprof-run.js")).runPprof(line.input, line.options, context);
  else if (line.command === "find") {
    const [artifact, argument, name] = line.operands;
    await (await import("./find-run.js")).runFind(artifact, argument, name, line.options, context);
  } else await (await import("./buildid-list-run.js")).runBuildIdList(line.options, context);
}
