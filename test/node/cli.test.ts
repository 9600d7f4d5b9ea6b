// The command line as a Unix user expects it, through the real CLI: exit statuses (0 done, 1 the
// work failed, 2 usage, then one of their own), unknown commands and options refused with a
// suggestion, `-` for standard input and output, binary output refused on a terminal, `id` against
// readelf -n, --json on the commands that print data, and help that fits the terminal.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { Profile } from "pprof-format";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EXIT_MEANINGS } from "../../src/node/commands/shared.js";
import { bundleCli, type CliRun, elfFiles, profileOf, runCli, runInTerminal } from "../helpers/cli.js";
import { readelfBuildId, SLEEP } from "./live.js";

let dir: string;
let cli: string;
let elves: string[];
// One past the largest PID the kernel hands out: a process that cannot exist.
const absentPid = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bic-cli-"));
  cli = await bundleCli(join(dir, "bundle"));
  elves = await elfFiles(6);
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

/** A new folder of the test's own, under the file's temporary folder. */
const fresh = (name = "case"): string => mkdtempSync(join(dir, `${name}-`));

// In a folder of the test's own, so that nothing the CLI writes lands in the working tree.
const run = (args: string[], options: Parameters<typeof runCli>[2] = {}): Promise<CliRun> =>
  runCli(cli, args, { cwd: dir, ...options });

// Each command's --help off a terminal, run once for the file and read by every test that checks it.
const helpRuns = new Map<string, Promise<CliRun>>();
const helpOf = (command: string): Promise<CliRun> => {
  let r = helpRuns.get(command);
  if (r === undefined) {
    r = run(command ? [command, "--help"] : ["--help"]);
    helpRuns.set(command, r);
  }
  return r;
};

/** The mapping build IDs of an uncompressed profile, by file name. */
function buildIdsOf(bytes: Uint8Array): Map<string, string> {
  const p = Profile.decode(bytes);
  const s = (i: unknown) => p.stringTable.strings[Number(i)]!;
  return new Map(p.mapping.map((m) => [s(m.filename), s(m.buildId)]));
}

describe("exit statuses", () => {
  test.each([
    [["bogus"], "unknown command 'bogus'"],
    [["resolv", "1", "0x10"], "unknown command 'resolv'\n(Did you mean resolve?)"],
    [["resolve", "--jsn", "1", "0x10"], "unknown option '--jsn'\n(Did you mean --json?)"],
    [["resolve", "1", "zz"], 'address must be hex (0x...) or decimal below 2^64, got "zz"'],
    [["resolve", "1", "0x10", "--save-interval", "5"], "--save-interval needs --cache-file"],
    [["resolve", "1", "0x10", "--cache-file", "-"], "--cache-file is read and saved back, so it cannot be -"],
    [["annotate", "in.pb"], "required option '-o, --output <file>' not specified"],
    [["id"], "missing required argument 'file'"],
    [["add", "-"], "add cannot read - (standard input)"],
  ])(
    "U1-U3 usage error %j: exit 2, the problem named, a pointer to the help instead of the help",
    async (args, message) => {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^buildid-cache: /);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain("Usage:");
    },
  );

  test("bare buildid-cache runs the census, and so do options alone", async () => {
    const bare = await run([]);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toMatch(/^buildid-cache census: /);
    const json = await run(["--json", "--no-progress"]);
    expect(json.code, json.stderr).toBe(0);
    expect(Object.keys(JSON.parse(json.stdout))).toContain("designs");
  });

  test("no procfs at --proc: census and resolve both exit 5 and say so", async () => {
    for (const args of [["census"], ["resolve", "1", "0x10"], ["annotate", "--pid", "1", "in.pb", "-o", "out.pb"]]) {
      const r = await run([...args, "--proc", "/nonexistent-proc"]);
      expect(r, args.join(" ")).toMatchObject({ code: 5, stdout: "" });
      expect(r.stderr).toBe("buildid-cache: no procfs at /nonexistent-proc: ENOENT\n");
    }
  });

  test("a file that is not there is named first, as Unix tools name it, by every command that reads one", async () => {
    const missing = join(dir, "no-such-input");
    const message = `buildid-cache: ${missing}: ENOENT: no such file or directory\n`;
    for (const args of [
      ["pprof", missing, "-o", join(dir, "never-written.pb.gz")],
      ["pprof", missing, "-o", join(dir, "never-written.pb.gz"), "--json"],
      ["buildid-list", "-i", missing],
      ["buildid-list", "-H", "-i", missing],
      ["annotate", missing, "-o", join(dir, "never-written.pb")],
      ["id", missing],
    ]) {
      const r = await run(args);
      expect(r, args.join(" ")).toMatchObject({ code: 1, stdout: "", stderr: message });
    }
    expect(existsSync(join(dir, "never-written.pb.gz"))).toBe(false);
  });

  test("U5 a process that does not exist is a failure: exit 1, named, nothing printed", async () => {
    const message = `buildid-cache: no process ${absentPid} (/proc/${absentPid}: ENOENT)\n`;
    for (const args of [
      ["resolve", String(absentPid), "0x1000"],
      ["resolve", "--json", String(absentPid), "0x1000"],
      ["annotate", "--pid", String(absentPid), join(dir, "never-read.pb"), "-o", join(dir, "never-written.pb")],
    ]) {
      const r = await run(args);
      expect(r, args.join(" ")).toMatchObject({ code: 1, stdout: "", stderr: message });
    }
    expect(existsSync(join(dir, "never-written.pb"))).toBe(false);
  });

  test("--help prints every exit status docs/errors.md lists, and the same ones", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const docs = readFileSync(join(root, "docs/errors.md"), "utf8");
    const section = docs.slice(docs.indexOf("## The command line: exit statuses"));
    const table = section.slice(0, section.indexOf("\n## ", 3));
    const documented = [...table.matchAll(/^\| (\d+) +\|/gm)].map((m) => Number(m[1]));
    const help = (await helpOf("")).stdout;
    const printed = [...help.slice(help.indexOf("Exit status:")).matchAll(/^ {2}(\d+) /gm)].map((m) => Number(m[1]));
    const inCode = Object.keys(EXIT_MEANINGS).map(Number);
    expect(documented).toEqual(inCode);
    expect(printed).toEqual(inCode);
  });
});

describe("- for standard input and output", () => {
  test("annotate - -o -: the profile through a pipe, annotated as readelf reads the files, the report on stderr, no file named -", async () => {
    const cwd = fresh("pipe");
    const files = [...elves.slice(0, 3), "/etc/passwd"];
    const r = await run(["annotate", "-", "-o", "-"], {
      stdin: gzipSync(profileOf(files)),
      cwd,
      binaryStdout: true,
    });
    expect(r.code, r.stderr).toBe(0);
    const ids = buildIdsOf(gunzipSync(Buffer.from(r.stdout, "latin1")));
    for (const f of elves.slice(0, 3)) expect(ids.get(f), f).toBe(readelfBuildId(f));
    expect(ids.get("/etc/passwd")).toBe("");
    expect(r.stderr).toMatch(/^standard output: 3 build IDs filled, 1 skipped, 0 already set\n/);
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("annotate FILE -o - --json: the profile on stdout, the JSON report on stderr", async () => {
    const cwd = fresh("json");
    const input = join(cwd, "in.pb");
    writeFileSync(input, profileOf(elves.slice(0, 2)));
    const r = await run(["annotate", input, "-o", "-", "--json"], { binaryStdout: true, cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stderr).filled).toHaveLength(2);
    expect([...buildIdsOf(gunzipSync(Buffer.from(r.stdout, "latin1"))).values()]).toEqual(
      elves.slice(0, 2).map((f) => readelfBuildId(f)),
    );
  });

  test("U4 a binary profile is not written to a terminal, nor an ELF file read from one: exit 2, nothing written", async () => {
    const cwd = fresh("tty");
    const input = join(cwd, "in.pb");
    writeFileSync(input, profileOf(elves.slice(0, 1)));
    const out = await runInTerminal(cli, ["annotate", input, "-o", "-"], 80, cwd);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe(
      "buildid-cache: not writing a pprof profile to a terminal: redirect standard output, or give -o FILE\n",
    );
    expect(readdirSync(cwd)).toEqual(["in.pb"]);
    const id = await runInTerminal(cli, ["id", "-"], 80, cwd);
    expect(id.code).toBe(2);
    expect(id.stdout).toContain("buildid-cache: not reading an ELF file from a terminal");
  });

  test("U6 id - reads standard input up to 256 MiB: an endless one is cut there, not read for ever", async () => {
    const zero = openSync("/dev/zero", "r");
    try {
      const r = await run(["id", "-"], { stdin: zero, timeoutMs: 120_000 });
      expect(r).toMatchObject({ code: 1, signal: null, stdout: "" });
      expect(r.stderr).toBe("buildid-cache: standard input runs past 268435456 bytes, the most read from it\n");
    } finally {
      closeSync(zero);
    }
  }, 150_000);

  test("core - reads a core redirected from a file as core FILE does, and refuses a pipe by name", async () => {
    const folder = fresh("core");
    const child: ChildProcess = spawn(SLEEP, ["infinity"], { stdio: "ignore" });
    let core: string;
    try {
      execFileSync("gcore", ["-o", join(folder, "core"), String(child.pid)], { stdio: "ignore", timeout: 600_000 });
      core = join(folder, `core.${child.pid}`);
    } finally {
      child.kill("SIGKILL");
    }
    const byPath = await run(["core", core]);
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(byPath.stdout).toContain(` ${readelfBuildId(SLEEP)} `);
    const fd = openSync(core, "r");
    try {
      expect(await run(["core", "-"], { stdin: fd })).toEqual(byPath);
    } finally {
      closeSync(fd);
    }
    const piped = await run(["core", "-"], { stdin: readFileSync(core) });
    expect(piped).toMatchObject({ code: 2, stdout: "" });
    expect(piped.stderr).toMatch(/core reads - only when standard input is a file \(< core\), not a (FIFO|socket):/);
  }, 660_000);
});

describe("id", () => {
  test("each file's build ID as readelf -n prints it (a 32-byte one too), one line each; a file without one fails the run, the rest still printed", async () => {
    const folder = fresh("id");
    const none = join(folder, "no-id");
    const long = join(folder, "long-id");
    const id32 = "5a".repeat(32);
    execFileSync("cc", ["-x", "c", "-", "-o", none, "-Wl,--build-id=none"], { input: "int main(void){return 0;}" });
    execFileSync("cc", ["-x", "c", "-", "-o", long, `-Wl,--build-id=0x${id32}`], {
      input: "int main(void){return 0;}",
    });
    expect(readelfBuildId(none)).toBeNull();
    expect(readelfBuildId(long)).toBe(id32);
    const good = [...elves, long];
    const r = await run(["id", elves[0]!, none, ...elves.slice(1), "/etc/passwd", long]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(good.map((f) => `${readelfBuildId(f)} ${f}\n`).join(""));
    expect(r.stderr.split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^buildid-cache: ${none}: no NT_GNU_BUILD_ID note`)),
      expect.stringMatching(/^buildid-cache: \/etc\/passwd: not an ELF file/),
      "",
    ]);
    const json = await run(["id", "--json", ...good]);
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { path: string; buildId: string; length: number }[];
    expect(parsed.map((e) => [e.path, e.buildId, e.length])).toEqual(
      good.map((f) => [f, readelfBuildId(f), readelfBuildId(f)!.length / 2]),
    );
    const piped = await run(["id", "-"], { stdin: readFileSync(elves[0]!) });
    expect(piped).toMatchObject({ code: 0, stdout: `${readelfBuildId(elves[0]!)} -\n`, stderr: "" });
  });
});

describe("--json", () => {
  test("every command that prints data offers --json", async () => {
    for (const command of ["census", "resolve", "annotate", "id", "add", "list", "core", "serve"]) {
      expect((await helpOf(command)).stdout, command).toMatch(/^ {2}--json /m);
    }
  });

  test("serve --json prints its address as one line of JSON, and serves there", async () => {
    const root = fresh("serve");
    let child: ChildProcess | undefined;
    const ended = runCli(cli, ["serve", "--port", "0", "--json", "--no-progress", "-t", "0", root], {
      started: (c) => {
        child = c;
      },
    });
    const line = await new Promise<string>((resolve) => {
      let text = "";
      child!.stdout!.on("data", (chunk: string) => {
        text += chunk;
        if (text.includes("\n")) resolve(text.slice(0, text.indexOf("\n")));
      });
    });
    const { url } = JSON.parse(line) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    child!.kill("SIGTERM");
    expect((await ended).code).toBe(143);
  });
});

describe("help", () => {
  const commands = ["", "census", "resolve", "annotate", "id", "add", "list", "core", "serve", "find"];

  test("every help has examples and exit statuses, the environment where a command reads it, and fits 80 columns off a terminal", async () => {
    const helps = new Map<string, string>();
    for (const command of commands) {
      const r = await helpOf(command);
      expect(r.code).toBe(0);
      helps.set(command, r.stdout);
      const long = r.stdout.split("\n").filter((l) => l.length > 80);
      expect(long, `${command} --help`).toEqual([]);
      expect(r.stdout, command).toMatch(/^Examples:\n {2}buildid-cache/m);
      expect(r.stdout, command).toMatch(/^Exit status:\n {2}0 +success\n {2}1 /m);
    }
    for (const [command, variable] of [
      ["add", "PERF_BUILDID_DIR"],
      ["list", "PERF_BUILDID_DIR"],
      ["find", "DEBUGINFOD_URLS"],
      ["find", "DEBUGINFOD_CACHE_PATH"],
    ] as const) {
      expect(helps.get(command)).toMatch(new RegExp(`^Environment:\\n(  .*\\n)*  ${variable} `, "m"));
    }
  });

  test("on a terminal, help is wrapped to its width", async () => {
    for (const columns of [50, 120]) {
      for (const command of commands) {
        const r = await runInTerminal(cli, command ? [command, "--help"] : ["--help"], columns);
        expect(r.code).toBe(0);
        const lines = r.stdout.split("\n");
        expect(
          lines.filter((l) => l.length > columns),
          `${command} --help at ${columns}`,
        ).toEqual([]);
        if (columns === 120) expect(Math.max(...lines.map((l) => l.length)), command).toBeGreaterThan(80);
      }
    }
  }, 300_000);
});
