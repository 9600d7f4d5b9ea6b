// The buildid-cache command: wires the commands of ./commands/ into one program. `census` is the default.
// A data command's plain line runs without commander (./commands/data-commands.ts); the rest parse with it.
import { readFileSync } from "node:fs";
import { runDataLine, startCommand } from "./command-setup.js";
import type { Command } from "./commands/commander.js";
import { parseDataCommandLine, runDataCommand } from "./commands/data-commands.js";
import { type CommandContext, EXIT_MEANINGS, type ExitStatus, errorText, exitStatusOf } from "./commands/shared.js";

type Register = (program: Command, context: CommandContext) => Command;

// The package's WebAssembly core named first, for the commands that make a cache as they start; pprof
// names it when it makes its resolver. The others never load the loader (6-10 ms of a start).
const withCore = (load: () => Promise<Register>) => async (): Promise<Register> => {
  await import("../default-core.js");
  return load();
};

// Each command's module, in the order help lists them, loaded only when needed: a command's module
// loads what it runs on (the resolver, the server, the converter), about 150 modules for all of them.
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  census: withCore(async () => (await import("./commands/census.js")).registerCensus),
  resolve: withCore(async () => (await import("./commands/resolve.js")).registerResolve),
  annotate: withCore(async () => (await import("./commands/annotate.js")).registerAnnotate),
  id: async () => (await import("./commands/id.js")).registerId,
  add: async () => (await import("./commands/add.js")).registerAdd,
  list: async () => (await import("./commands/list.js")).registerList,
  core: async () => (await import("./commands/core.js")).registerCore,
  serve: async () => (await import("./commands/serve.js")).registerServe,
  find: async () => (await import("./commands/find.js")).registerFind,
  record: withCore(async () => (await import("./commands/record.js")).registerRecord),
  pprof: async () => (await import("./commands/pprof.js")).registerPprof,
  "buildid-list": async () => (await import("./commands/buildid-list.js")).registerBuildIdList,
};

const context = startCommand();

const args = process.argv.slice(2);
const dataLine = parseDataCommandLine(args);
if (dataLine !== undefined) await runDataLine(() => runDataCommand(dataLine, context));
else await runWithCommander();

/** The command line as commander reads it: every command, help, version and usage errors. */
async function runWithCommander(): Promise<void> {
  const { Command, CommanderError } = await import("./commands/commander.js");
  const { helpConfiguration, withHelpSections } = await import("./commands/help.js");
  const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };

  // Set before the commands are created, which copy them: commander's errors are usage errors
  // (thrown, not exiting, so the status is ours), worded as ours, each with a pointer to the help.
  const program = new Command()
    .name("buildid-cache")
    .description(
      "ELF build IDs of live processes, files, core dumps, perf recordings and pprof profiles, through a WebAssembly cache keyed by (device, inode); a profiler (record); perf's build-ID store; a debuginfod server and client",
    )
    .version(version)
    .exitOverride()
    .configureHelp(helpConfiguration())
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, "buildid-cache: ")) });

  // census, the default, takes options only: a first word that is not an option names a command, and
  // one that is none is refused as unknown (with a suggestion), not passed to census as an argument.
  const first = args[0];
  const toCensus =
    first === undefined || (first.startsWith("-") && !["-h", "--help", "-V", "--version"].includes(first));
  const onlyVersion = first === "-V" || first === "--version";
  // The command named is the only one loaded; help, `help COMMAND` and an unknown word (for its suggestion) load them all.
  const named = toCensus ? "census" : first !== undefined && Object.hasOwn(COMMANDS, first) ? first : undefined;
  const wanted = onlyVersion ? [] : named !== undefined ? [named] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((name) => COMMANDS[name]!()))) register(program, context);
  program.showHelpAfterError("Try 'buildid-cache --help' for more information.");
  for (const command of program.commands) {
    command.showHelpAfterError(`Try 'buildid-cache ${command.name()} --help' for more information.`);
  }
  withHelpSections(program, {
    examples: [
      ["buildid-cache", "the census of this machine (census is the default command)"],
      ["buildid-cache id /usr/bin/ls", "a file's build ID"],
      ["buildid-cache resolve 4242 0x55d0c0a01234", "the build ID and file offset of an address in process 4242"],
      ["buildid-cache record -g -o cpu.pb.gz -- node app.js", "profile a program into a pprof profile with build IDs"],
      ["buildid-cache COMMAND --help", "a command's options, examples and environment"],
    ],
    environment: [
      ["PERF_BUILDID_DIR", "add, list: perf's build-ID store (default ~/.debug)"],
      ["DEBUGINFOD_URLS", "find: the debuginfod servers to ask"],
      ["DEBUGINFOD_CACHE_PATH", "find: where fetched files are kept"],
      ["XDG_CACHE_HOME", "Node 22.1+: the compiled command kept in $XDG_CACHE_HOME/buildid-cache (default ~/.cache)"],
    ],
    exitStatuses: Object.keys(EXIT_MEANINGS).map(Number) as ExitStatus[],
  });

  try {
    await program.parseAsync(toCensus ? ["census", ...args] : args, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) {
      process.stderr.write(`buildid-cache: ${errorText(error)}\n`);
    }
    process.exitCode = exitStatusOf(error);
  }
}
