// The data commands' (and find's) hand reading of a command line against commander's: on random lines
// drawn from their options, values, operands and the words commander keeps (help, version, --), every
// line the hand reading takes commander takes too, with the same operands and options; lines it leaves
// are commander's.
import { describe, expect, test } from "vitest";
import { registerBuildIdList } from "../../src/node/commands/buildid-list.js";
import { Command, CommanderError } from "../../src/node/commands/commander.js";
import { type DataCommandLine, parseDataCommandLine } from "../../src/node/commands/data-commands.js";
import { registerFind } from "../../src/node/commands/find.js";
import { registerPprof } from "../../src/node/commands/pprof.js";
import { commandContext } from "../../src/node/commands/shared.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const SEED = seedFrom("DATA_LINES_SEED", "data command lines");
const LINES = Number(process.env.DATA_LINES ?? 3000);

type Read = { command: string; input?: string; operands?: unknown[]; options: object } | "refused";

/** What the hand reading took, as {@link commanderReads} says it. */
function handRead(line: DataCommandLine): Read {
  if (line.command === "pprof") return { command: line.command, input: line.input, options: line.options };
  if (line.command === "find") return { command: line.command, operands: line.operands, options: line.options };
  return { command: line.command, options: line.options };
}

/** What commander makes of `args` (after the program's name): the command's input and options, or "refused". */
async function commanderReads(args: string[]): Promise<Read> {
  const silent = { out: () => {}, err: () => {} };
  const program = new Command().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  program.version("0.0.0");
  registerPprof(program, commandContext(silent));
  registerBuildIdList(program, commandContext(silent));
  registerFind(program, commandContext(silent));
  let read: Read = "refused";
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    command.action((...got: unknown[]) => {
      const options = { ...(got[got.length - 2] as Record<string, unknown>) };
      // find's optional [name] comes as undefined when not given; the hand reading leaves it out.
      const operands = got.slice(0, -2);
      while (operands.length > 0 && operands[operands.length - 1] === undefined) operands.pop();
      read =
        command.name() === "pprof"
          ? { command: "pprof", input: got[0] as string, options }
          : command.name() === "find"
            ? { command: "find", operands, options }
            : { command: command.name(), options };
    });
  }
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return "refused";
  }
  return read;
}

const WORDS = [
  "-o",
  "--output",
  "--output=out.pb",
  "--output=",
  "-i",
  "--input",
  "--input=-",
  "-H",
  "--with-hits",
  "--json",
  "--json=1",
  "--no-read-files",
  "--read-files",
  "--trust-paths",
  "-",
  "--",
  "-h",
  "--help",
  "-V",
  "--version",
  "-Vx",
  "-Hi",
  "-ox",
  "-5",
  "",
  "a.data",
  "b.data",
  "out.pb.gz",
];

/** find's words: its artifacts, a build ID, a name, its options and values, and commander's. */
const FIND_WORDS = [
  "executable",
  "debuginfo",
  "section",
  "source",
  "ab12",
  "/src/a.c",
  ".text",
  "--root",
  "--root=r",
  "--root=",
  "--index",
  "--index=db",
  "--timeout",
  "--timeout=5",
  "--timeout=0",
  "--timeout=86401",
  "5",
  "05",
  "-1",
  "-v",
  "-vv",
  "-vj",
  "--verbose",
  "--verbose=1",
  "--json",
  "--no-progress",
  "--progress",
  "-",
  "--",
  "-h",
  "--help",
  "-V",
  "",
];

describe("the data commands' command lines", () => {
  test("plain lines are read as commander reads them", async () => {
    for (const args of [
      ["pprof", "a.data", "-o", "out.pb"],
      ["pprof", "-o", "-", "-", "--json", "--no-read-files", "--trust-paths"],
      ["pprof", "--output=x.pb", "a.data", "--output", "y.pb"],
      ["buildid-list"],
      ["buildid-list", "-H", "-i", "-", "--json"],
      ["buildid-list", "--input=a.data", "--with-hits"],
      ["find", "debuginfo", "ab12"],
      ["find", "section", "ab12", ".text", "--json", "--timeout", "5"],
      ["find", "-vv", "source", "--root", "a", "--root=b", "ab12", "/src/a.c", "--no-progress", "--index", "db"],
      ["find", "executable", "/usr/bin/ls", "-v", "--verbose", "--timeout=86400"],
    ]) {
      const mine = parseDataCommandLine(args);
      expect(mine, args.join(" ")).toBeDefined();
      expect(await commanderReads(args), args.join(" ")).toEqual(handRead(mine!));
    }
  });

  test(`random lines (${LINES}): the hand reading takes none that commander refuses or reads otherwise`, async () => {
    const next = mulberry32(SEED);
    let taken = 0;
    for (let n = 0; n < LINES; n++) {
      const pick = next();
      const args = [pick < 1 / 3 ? "pprof" : pick < 2 / 3 ? "buildid-list" : "find"];
      const words = args[0] === "find" ? FIND_WORDS : WORDS;
      const length = Math.floor(next() * (args[0] === "find" ? 8 : 6));
      for (let k = 0; k < length; k++) args.push(words[Math.floor(next() * words.length)]!);
      const mine = parseDataCommandLine(args);
      if (mine === undefined) continue;
      taken++;
      const where = `${JSON.stringify(args)} (DATA_LINES_SEED=${SEED})`;
      expect(await commanderReads(args), where).toEqual(handRead(mine));
    }
    // The lines drawn are not all left to commander.
    expect(taken).toBeGreaterThan(LINES / 20);
  }, 120_000);

  test("the lines it leaves include help, version, --, unknown options and missing values", () => {
    for (const args of [
      ["pprof", "--help"],
      ["pprof", "a.data", "-o", "-h"],
      ["pprof", "a.data", "-o", "x", "-V"],
      ["pprof", "--", "a.data", "-o", "x"],
      ["pprof", "a.data"],
      ["pprof", "a.data", "b.data", "-o", "x"],
      ["pprof", "a.data", "-o"],
      ["buildid-list", "-Hi", "a.data"],
      ["buildid-list", "x"],
      ["find", "debuginfo"],
      ["find", "source", "ab12", "/a.c", "extra"],
      ["find", "debuginfo", "ab12", "--timeout", "0"],
      ["find", "debuginfo", "ab12", "--timeout"],
      ["find", "debuginfo", "ab12", "-vx"],
      ["find", "--help"],
      ["census"],
    ])
      expect(parseDataCommandLine(args), args.join(" ")).toBeUndefined();
  });
});
