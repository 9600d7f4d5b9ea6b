// The data commands' hand reading of a command line against commander's: on random lines drawn from
// their options, values, operands and the words commander keeps (help, version, --), every line the
// hand reading takes commander takes too, with the same input and options; lines it leaves are commander's.
import { describe, expect, test } from "vitest";
import { registerBuildIdList } from "../../src/node/commands/buildid-list.js";
import { Command, CommanderError } from "../../src/node/commands/commander.js";
import { parseDataCommandLine } from "../../src/node/commands/data-commands.js";
import { registerPprof } from "../../src/node/commands/pprof.js";
import { commandContext } from "../../src/node/commands/shared.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const SEED = seedFrom("DATA_LINES_SEED", "data command lines");
const LINES = Number(process.env.DATA_LINES ?? 3000);

type Read = { command: string; input?: string; options: Record<string, unknown> } | "refused";

/** What commander makes of `args` (after the program's name): the command's input and options, or "refused". */
async function commanderReads(args: string[]): Promise<Read> {
  const silent = { out: () => {}, err: () => {} };
  const program = new Command().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  program.version("0.0.0");
  registerPprof(program, commandContext(silent));
  registerBuildIdList(program, commandContext(silent));
  let read: Read = "refused";
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    command.action((...got: unknown[]) => {
      const options = { ...(got[got.length - 2] as Record<string, unknown>) };
      read =
        command.name() === "pprof"
          ? { command: "pprof", input: got[0] as string, options }
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

describe("the data commands' command lines", () => {
  test("plain lines are read as commander reads them", async () => {
    for (const args of [
      ["pprof", "a.data", "-o", "out.pb"],
      ["pprof", "-o", "-", "-", "--json", "--no-read-files", "--trust-paths"],
      ["pprof", "--output=x.pb", "a.data", "--output", "y.pb"],
      ["buildid-list"],
      ["buildid-list", "-H", "-i", "-", "--json"],
      ["buildid-list", "--input=a.data", "--with-hits"],
    ]) {
      const mine = parseDataCommandLine(args);
      expect(mine, args.join(" ")).toBeDefined();
      expect(await commanderReads(args), args.join(" ")).toEqual({
        command: mine!.command,
        ...(mine!.command === "pprof" ? { input: mine!.input } : {}),
        options: mine!.options,
      });
    }
  });

  test(`random lines (${LINES}): the hand reading takes none that commander refuses or reads otherwise`, async () => {
    const next = mulberry32(SEED);
    let taken = 0;
    for (let n = 0; n < LINES; n++) {
      const args = [next() < 0.5 ? "pprof" : "buildid-list"];
      const length = Math.floor(next() * 6);
      for (let k = 0; k < length; k++) args.push(WORDS[Math.floor(next() * WORDS.length)]!);
      const mine = parseDataCommandLine(args);
      if (mine === undefined) continue;
      taken++;
      const where = `${JSON.stringify(args)} (DATA_LINES_SEED=${SEED})`;
      expect(await commanderReads(args), where).toEqual({
        command: mine.command,
        ...(mine.command === "pprof" ? { input: mine.input } : {}),
        options: mine.options,
      });
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
      ["census"],
    ])
      expect(parseDataCommandLine(args), args.join(" ")).toBeUndefined();
  });
});
