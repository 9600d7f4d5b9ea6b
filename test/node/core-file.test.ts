// Core files against elfutils: for a gcore of a live process, a kernel-written core (with the
// default filter, and with one that drops every header) and a gcore with more than 65,535 program
// headers, readCoreBuildIds must report the build IDs `eu-unstrip -n --core` reports, at the same
// addresses. The program and its library get build IDs from a seed (BUILDID_SEED to replay).
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { registerCore } from "../../src/node/commands/core.js";
import { commandContext } from "../../src/node/commands/shared.js";
import { CoreFileError, type CoreReport, readCoreBuildIds } from "../../src/node/core-file.js";
import { NotRegularFileError } from "../../src/node/safe-open.js";
import { hexIds, mulberry32, seedFrom } from "../helpers/random.js";
import { readelfBuildId } from "./live.js";

const seed = seedFrom("BUILDID_SEED", "core-file");
const next = mulberry32(seed);
const hexId = hexIds(next);

const LIBRARY = "int demo_value(int x) { return x * 3 + 1; }\n";
// `prog crash` aborts (a kernel core); `prog sleep [N]` makes N one-page mappings a page apart and waits. The gaps
// keep eu-unstrip linear: it merges each segment with the adjacent ones after it, 12.5 s of CPU at 66,000 without them.
const PROGRAM = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int demo_value(int);
int main(int argc, char **argv) {
  long maps = argc > 2 ? atol(argv[2]) : 0;
  if (maps > 0) {
    long page = sysconf(_SC_PAGESIZE);
    char *base = mmap(NULL, 2 * maps * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) { perror("mmap"); return 2; }
    for (long i = 1; i < 2 * maps; i += 2)
      if (munmap(base + i * page, page)) { perror("munmap"); return 2; }
  }
  printf("ready %d\\n", demo_value(argc));
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "crash") == 0) abort();
  for (;;) pause();
}
`;

let work: string;
let prog: string;
let lib: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "core-file-"));
  lib = join(work, "libdemo.so");
  prog = join(work, "prog");
  execFileSync("cc", ["-shared", "-fPIC", "-x", "c", "-", "-o", lib, `-Wl,--build-id=0x${hexId(20)}`], {
    input: LIBRARY,
  });
  execFileSync(
    "cc",
    ["-x", "c", "-", "-o", prog, `-L${work}`, "-ldemo", `-Wl,-rpath,${work}`, `-Wl,--build-id=0x${hexId(20)}`],
    { input: PROGRAM },
  );
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `eu-unstrip -n --core`'s modules: start address to build ID ("-" for none). */
async function euUnstrip(core: string): Promise<Map<bigint, string>> {
  const { stdout: out } = await promisify(execFile)("eu-unstrip", ["-n", "--core", core], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  const modules = new Map<bigint, string>();
  for (const line of out.split("\n").filter((l) => l !== "")) {
    const [range, id] = line.split(" ");
    modules.set(BigInt(range!.split("+")[0]!), id!.split("@")[0]!);
  }
  return modules;
}

/** Checks the report against eu-unstrip's modules: the same build IDs at the same addresses, none more, none fewer. */
function expectSameAsElfutils(report: CoreReport, modules: Map<bigint, string>): void {
  const theirs = [...modules].filter(([, id]) => id !== "-").map(([start, id]) => `0x${start.toString(16)} ${id}`);
  const ours = report.modules.filter((m) => m.status === "found").map((m) => `0x${m.start.toString(16)} ${m.buildId}`);
  expect(ours.sort()).toEqual(theirs.sort());
  expect(theirs.length).toBeGreaterThanOrEqual(1);
}

function moduleOf(report: CoreReport, path: string) {
  const found = report.modules.filter((m) => m.path === path);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** Starts `prog sleep [maps]` and resolves once it has printed "ready". */
function startProgram(maps?: number): Promise<ChildProcess> {
  const child = spawn(prog, maps === undefined ? ["sleep"] : ["sleep", String(maps)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve(child));
    child.once("exit", (code) => reject(new Error(`prog exited with ${code} before it was ready`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** gcore's core of the running `child`, in a folder of its own. */
function gcore(child: ChildProcess, name: string): string {
  const prefix = join(work, name);
  execFileSync("gcore", ["-o", prefix, String(child.pid)], { stdio: "ignore", timeout: 600_000 });
  return `${prefix}.${child.pid}`;
}

/** Runs `prog crash` in a fresh folder with `ulimit -c unlimited` and returns the core the kernel wrote there. */
function kernelCore(name: string, filter?: string): string {
  const folder = join(work, name);
  mkdirSync(folder);
  const setFilter = filter === undefined ? "" : `echo ${filter} > /proc/self/coredump_filter && `;
  try {
    execFileSync("sh", ["-c", `ulimit -c unlimited && ${setFilter}exec "$0" crash`, prog], {
      cwd: folder,
      stdio: "ignore",
    });
  } catch {} // abort() is the point
  const cores = readdirSync(folder); // a fresh folder: whatever the pattern names it, the one file is the core
  expect(cores, `no core in ${folder}; core_pattern is ${readFileSync(CORE_PATTERN, "utf8").trim()}`).toHaveLength(1);
  return join(folder, cores[0]!);
}

const CORE_PATTERN = "/proc/sys/kernel/core_pattern";
const MAX_MAP_COUNT = "/proc/sys/vm/max_map_count";

/** Runs `body` with `file` set to `value`, restoring it afterwards; undefined when it may not be changed. */
async function withSysctl<T>(file: string, value: string, body: () => Promise<T>): Promise<T | undefined> {
  const original = readFileSync(file, "utf8").trim();
  try {
    writeFileSync(file, value);
  } catch (error) {
    console.log(`core-file: cannot set ${file} (${(error as Error).message}); skipping`);
    return undefined;
  }
  try {
    return await body();
  } finally {
    writeFileSync(file, original);
  }
}

/** Runs `body` with a core_pattern that writes into the crashing process's folder. */
async function withLocalCores<T>(body: () => Promise<T>): Promise<T | undefined> {
  const pattern = readFileSync(CORE_PATTERN, "utf8").trim();
  if (!pattern.startsWith("|") && !pattern.includes("/")) return body(); // already relative to the process's folder
  return withSysctl(CORE_PATTERN, "core", body);
}

let liveCore: Promise<string> | undefined;
/** One gcore of `prog sleep`, made on first use, for the tests that read it and the ones that edit its bytes. */
function gcoreOfLiveProgram(): Promise<string> {
  liveCore ??= startProgram().then(async (child) => {
    try {
      return gcore(child, "gcore");
    } finally {
      await stop(child);
    }
  });
  return liveCore;
}

describe("gcore of a live process", () => {
  test("the same build IDs at the same addresses as eu-unstrip, the program's and its library's among them", async () => {
    const core = await gcoreOfLiveProgram();
    const elfutils = euUnstrip(core); // runs while this process reads the core
    const report = await readCoreBuildIds(core);
    expectSameAsElfutils(report, await elfutils);
    expect(moduleOf(report, prog)).toMatchObject({ status: "found", buildId: readelfBuildId(prog) });
    expect(moduleOf(report, lib)).toMatchObject({ status: "found", buildId: readelfBuildId(lib) });
    expect(moduleOf(report, "[vdso]").status).toBe("found");
    expect(report).toMatchObject({ machine: 62, extendedNumbering: false, notInCore: 0 });
    let out = "";
    const program = registerCore(
      new Command(),
      commandContext({
        out: (t) => {
          out += t;
        },
        err: () => {},
      }),
    );
    await program.parseAsync(["core", core], { from: "user" });
    const libLine = moduleOf(report, lib);
    expect(out).toContain(
      `0x${libLine.start.toString(16)}+0x${(libLine.end - libLine.start).toString(16)} ${readelfBuildId(lib)} ${lib}\n`,
    );
    expect(out).toMatch(
      new RegExp(`^${report.modules.length} files: ${report.modules.length} with build IDs, 0 not in core$`, "m"),
    );
  });
});

describe("kernel-written cores", () => {
  test("default filter: the same as eu-unstrip", async (ctx) => {
    const done = await withLocalCores(async () => {
      const core = kernelCore("kernel");
      const elfutils = euUnstrip(core);
      const report = await readCoreBuildIds(core);
      expectSameAsElfutils(report, await elfutils);
      expect(moduleOf(report, prog)).toMatchObject({ status: "found", buildId: readelfBuildId(prog) });
      expect(moduleOf(report, lib)).toMatchObject({ status: "found", buildId: readelfBuildId(lib) });
      return true;
    });
    if (!done) ctx.skip();
  });

  test("a filter that keeps no file pages: every file is counted not in core, none fails, eu-unstrip agrees", async (ctx) => {
    const done = await withLocalCores(async () => {
      const core = kernelCore("kernel-nofilter", "0");
      const elfutils = euUnstrip(core);
      const report = await readCoreBuildIds(core);
      expectSameAsElfutils(report, await elfutils);
      expect(moduleOf(report, prog).status).toBe("not-in-core");
      expect(moduleOf(report, lib).status).toBe("not-in-core");
      expect(report.notInCore).toBe(report.modules.filter((m) => m.path !== "[vdso]").length);
      return true;
    });
    if (!done) ctx.skip();
  });
});

describe("more than 65,535 program headers", () => {
  test("a gcore of 66,000 mappings uses extended numbering and reads as eu-unstrip reads it", async (ctx) => {
    const maps = 66_000;
    const raised = Math.max(Number(readFileSync(MAX_MAP_COUNT, "utf8")), maps + 10_000);
    const done = await withSysctl(MAX_MAP_COUNT, String(raised), async () => {
      const child = await startProgram(maps);
      try {
        const core = gcore(child, "many");
        await stop(child);
        const elfutils = euUnstrip(core); // the slowest step (seconds per 10,000 segments): run beside both reads
        const report = await readCoreBuildIds(core);
        expect(report.extendedNumbering).toBe(true);
        expect(report.segments).toBeGreaterThan(maps);
        expect(moduleOf(report, lib)).toMatchObject({ status: "found", buildId: readelfBuildId(lib) });
        await expect(readCoreBuildIds(core, { limits: { maxSegments: 65_535 } })).rejects.toMatchObject({
          name: "CoreFileError",
          code: "LIMIT",
        });
        expectSameAsElfutils(report, await elfutils);
        rmSync(core);
        return true;
      } finally {
        await stop(child);
      }
    });
    if (!done) ctx.skip();
  }, 900_000);
});

describe("bad input: a typed error naming the file", () => {
  let core: Uint8Array;
  let notes: { offset: number; size: number };

  beforeAll(async () => {
    core = new Uint8Array(readFileSync(await gcoreOfLiveProgram()));
    const v = new DataView(core.buffer, core.byteOffset, core.byteLength);
    const phoff = Number(v.getBigUint64(32, true));
    for (let i = 0; i < v.getUint16(56, true); i++) {
      const at = phoff + i * 56;
      if (v.getUint32(at, true) === 4)
        notes = { offset: Number(v.getBigUint64(at + 8, true)), size: Number(v.getBigUint64(at + 32, true)) };
    }
  });

  function write(name: string, bytes: Uint8Array): string {
    const path = join(work, name);
    writeFileSync(path, bytes);
    return path;
  }

  function patched(edit: (v: DataView) => void): Uint8Array {
    const copy = core.slice();
    edit(new DataView(copy.buffer));
    return copy;
  }

  /** Offset of the NT_FILE descriptor in the sample core. */
  function fileNote(): number {
    const v = new DataView(core.buffer, core.byteOffset, core.byteLength);
    for (let at = notes.offset; at < notes.offset + notes.size; at += 4) {
      if (v.getUint32(at, true) === 5 && v.getUint32(at + 8, true) === 0x46494c45) return at + 20;
    }
    throw new Error("no NT_FILE note in the sample core");
  }

  const cases: [string, () => Uint8Array | string, string, RegExp][] = [
    ["a text file", () => new TextEncoder().encode("not a core\n"), "NOT_ELF", /not an ELF file/],
    ["an executable", () => readFileSync(prog), "NOT_CORE", /e_type is 3, not ET_CORE/],
    ["an ELF32 core", () => patched((v) => v.setUint8(4, 1)), "UNSUPPORTED", /ELF32 little-endian/],
    ["a big-endian core", () => patched((v) => v.setUint8(5, 2)), "UNSUPPORTED", /ELF64 big-endian/],
    ["a core cut inside its program headers", () => core.slice(0, 200), "TRUNCATED", /program headers at 0x40/],
    [
      "PN_XNUM without section 0",
      () =>
        patched((v) => {
          v.setUint16(56, 0xffff, true);
          v.setBigUint64(40, 0n, true);
        }),
      "BAD_HEADER",
      /PN_XNUM/,
    ],
    ["a note area past the end", () => core.slice(0, notes.offset + 8), "TRUNCATED", /PT_NOTE program header/],
    [
      "an NT_FILE count of 2^40",
      () => patched((v) => v.setBigUint64(fileNote(), 1n << 40n, true)),
      "LIMIT",
      /NT_FILE has 1099511627776 entries/,
    ],
    [
      "an NT_FILE count past its note",
      () => patched((v) => v.setBigUint64(fileNote(), 1000n, true)),
      "BAD_NOTE",
      /NT_FILE's 1000 entries/,
    ],
    [
      "an NT_FILE entry ending before it starts",
      () => patched((v) => v.setBigUint64(fileNote() + 24, 0n, true)),
      "BAD_NOTE",
      /NT_FILE entry 0/,
    ],
    [
      "no NT_FILE note",
      () => patched((v) => v.setUint32(fileNote() - 12, 0x46494c46, true)),
      "NO_FILE_NOTE",
      /no NT_FILE note/,
    ],
  ];
  for (const [what, make, code, message] of cases) {
    test(what, async () => {
      const bytes = make();
      const path = typeof bytes === "string" ? bytes : write(`bad-${code}`, bytes);
      const error = await readCoreBuildIds(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CoreFileError);
      expect(error).toMatchObject({ code, message: expect.stringMatching(message) });
      expect((error as Error).message.startsWith(`${path}: `)).toBe(true);
    });
  }

  test("the reads for the mapped files' headers are bounded: past maxImageReads the core is refused", async () => {
    const path = write("sample-core", core);
    const report = await readCoreBuildIds(path);
    expect(report.modules.filter((m) => m.status === "found").length).toBeGreaterThanOrEqual(4);
    await expect(readCoreBuildIds(path, { limits: { maxImageReads: 10 } })).rejects.toMatchObject({
      name: "CoreFileError",
      code: "LIMIT",
      message: expect.stringContaining("maxImageReads"),
    });
  });

  test("a FIFO is refused unread; a path that is not a string and a bad limit are argument errors", async () => {
    const fifo = join(work, "core.fifo");
    execFileSync("mkfifo", [fifo]);
    await expect(readCoreBuildIds(fifo)).rejects.toBeInstanceOf(NotRegularFileError);
    await expect(readCoreBuildIds(7 as unknown as string)).rejects.toThrow(
      new TypeError("path must be a string, got 7"),
    );
    await expect(readCoreBuildIds(fifo, { limits: { maxSegments: -1 } })).rejects.toThrow(
      new RangeError("limits.maxSegments must be an integer >= 0, got -1"),
    );
  });

  test("random corruption of headers and notes: a result or a CoreFileError, never anything else", async () => {
    const runs = Number(process.env.CORE_FUZZ_RUNS ?? 300);
    const regions = [
      [0, 64 + 20 * 56],
      [notes.offset, notes.offset + notes.size],
    ] as const;
    const path = join(work, "fuzzed");
    for (let run = 0; run < runs; run++) {
      const copy = core.slice();
      for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) {
        const [from, to] = regions[Math.floor(next() * regions.length)]!;
        copy[from + Math.floor(next() * (to - from))] = Math.floor(next() * 256);
      }
      writeFileSync(path, copy);
      const outcome = await readCoreBuildIds(path).catch((e: unknown) => e);
      if (outcome instanceof Error && !(outcome instanceof CoreFileError)) {
        throw new Error(`run ${run} (BUILDID_SEED=${seed}): ${outcome.stack}`);
      }
    }
  }, 300_000);
});
