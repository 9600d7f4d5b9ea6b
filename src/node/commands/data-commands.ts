/**
 * The data commands (`pprof`, `buildid-list`) read from a plain command line without commander, which
 * costs a process 20-30 ms to load: their own options, values and operands, as commander takes them.
 * Anything else (help, --version, `--`, an unknown option, a missing value or argument, one too many)
 * is left to commander, which words the error or prints the help.
 *
 * @packageDocumentation
 */
import type { BuildIdListOptions } from "./buildid-list-run.js";
import type { PprofOptions } from "./pprof-run.js";
import type { CommandContext } from "./shared.js";

/** A data command's line, read. */
export type DataCommandLine =
  | { command: "pprof"; input: string; options: PprofOptions }
  | { command: "buildid-list"; options: BuildIdListOptions };

type Options = Record<string, string | boolean>;

/** One command's options as commander declares them. */
interface Grammar {
  /** Option spellings that take the next argument (or `--long=VALUE`), and the key they set. */
  valued: Readonly<Record<string, string>>;
  /** Flag spellings, with the key and value they set. */
  flags: Readonly<Record<string, readonly [key: string, value: boolean]>>;
  /** Values before the line is read (commander's defaults). */
  defaults: Readonly<Options>;
  /** Keys the line must set (commander's requiredOption). */
  required: readonly string[];
  /** How many operands the command takes. */
  operands: number;
}

const GRAMMARS: Readonly<Record<DataCommandLine["command"], Grammar>> = {
  pprof: {
    valued: { "-o": "output", "--output": "output" },
    flags: {
      "--no-read-files": ["readFiles", false],
      "--trust-paths": ["trustPaths", true],
      "--json": ["json", true],
    },
    defaults: { readFiles: true },
    required: ["output"],
    operands: 1,
  },
  "buildid-list": {
    valued: { "-i": "input", "--input": "input" },
    flags: { "-H": ["withHits", true], "--with-hits": ["withHits", true], "--json": ["json", true] },
    defaults: { input: "perf.data" },
    required: [],
    operands: 0,
  },
};

// What the program itself (help, version) or `--` might take, even as an option's value: commander's.
const COMMANDER_ONLY = /^(?:-h|-V|--help|--version|--$)/;

/** `args` (after the program's name) as a data command's line, or undefined when commander should read it. */
export function parseDataCommandLine(args: readonly string[]): DataCommandLine | undefined {
  const [command, ...rest] = args;
  if (command !== "pprof" && command !== "buildid-list") return undefined;
  const grammar = GRAMMARS[command];
  const options: Options = { ...grammar.defaults };
  const operands: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (COMMANDER_ONLY.test(arg)) return undefined;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const valued = grammar.valued[eq > 0 ? arg.slice(0, eq) : arg];
    const flag = grammar.flags[arg];
    if (valued !== undefined) {
      const value = eq > 0 ? arg.slice(eq + 1) : rest[++i];
      if (value === undefined || COMMANDER_ONLY.test(value)) return undefined;
      options[valued] = value;
    } else if (flag !== undefined) options[flag[0]] = flag[1];
    else if (arg.length > 1 && arg.startsWith("-")) return undefined;
    else operands.push(arg);
  }
  if (operands.length !== grammar.operands || grammar.required.some((key) => !(key in options))) return undefined;
  return command === "pprof"
    ? { command, input: operands[0]!, options: options as unknown as PprofOptions }
    : { command, options: options as unknown as BuildIdListOptions };
}

/** Runs a data command's line, loading only what that command runs on. */
export async function runDataCommand(line: DataCommandLine, context: CommandContext): Promise<void> {
  if (line.command === "pprof") await (await import("./pprof-run.js")).runPprof(line.input, line.options, context);
  else await (await import("./buildid-list-run.js")).runBuildIdList(line.options, context);
}
