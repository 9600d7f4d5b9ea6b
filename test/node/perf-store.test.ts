// perf's build-ID store against perf itself: what addToPerfStore writes, `perf buildid-cache --list`
// lists; what `perf buildid-cache --add` writes, listPerfStore reads. Build IDs come from a seed
// (BUILDID_SEED to replay) and are checked with GNU readelf.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { registerAdd } from "../../src/node/commands/add.js";
import { registerList } from "../../src/node/commands/list.js";
import { commandContext } from "../../src/node/commands/shared.js";
import { addToPerfStore, listPerfStore, perfStoreDir } from "../../src/node/perf-store.js";
import { NotRegularFileError } from "../../src/node/safe-open.js";
import { hexIds, mulberry32, seedFrom } from "../helpers/random.js";
import { readelfBuildId } from "./live.js";

const next = mulberry32(seedFrom("BUILDID_SEED", "perf-store"));
const hexId = hexIds(next);

let work: string;
let home: string;
const files: Record<string, string> = {};

function compile(name: string, buildIdFlag: string): string {
  const out = join(work, "bin", name);
  execFileSync("cc", ["-x", "c", "-", "-o", out, `-Wl,--build-id=${buildIdFlag}`], {
    input: `int main(void) { return ${name.length}; }\n`,
  });
  return out;
}

/** `perf buildid-cache --list` on store `dir`, as "ID PATH" lines, sorted. */
function perfList(dir: string): string[] {
  const out = execFileSync("perf", ["--buildid-dir", dir, "buildid-cache", "--list"], {
    encoding: "utf8",
    env: { ...process.env, HOME: home },
  });
  return out
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

function perfAdd(dir: string, file: string): void {
  execFileSync("perf", ["--buildid-dir", dir, "buildid-cache", "--add", file], {
    env: { ...process.env, HOME: home },
    stdio: "ignore",
  });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "buildid-store-")); // not "perf-…": perf takes /tmp/perf-* for JIT symbol maps
  home = join(work, "home");
  execFileSync("mkdir", ["-p", join(work, "bin"), home]);
  files.sha1 = compile("sha1", `0x${hexId(20)}`);
  files.md5 = compile("md5", `0x${hexId(16)}`);
  files.long = compile("long", `0x${hexId(32)}`); // perf cuts it to 20 bytes
  files.none = compile("none", "none");
  files.text = join(work, "bin", "text");
  writeFileSync(files.text, "#!/bin/sh\necho not ELF\n");
  files.fifo = join(work, "bin", "fifo");
  execFileSync("mkfifo", [files.fifo]);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const stores = () => mkdtempSync(join(work, "store-"));
const added = ["sha1", "md5", "long"] as const;
const expected = () => added.map((name) => `${readelfBuildId(files[name]!)!.slice(0, 40)} ${files[name]}`).sort();

describe("add, then perf lists it", () => {
  test("perf buildid-cache --list lists exactly what addToPerfStore wrote", async () => {
    const dir = stores();
    for (const name of added) await addToPerfStore(files[name]!, { dir });
    expect(perfList(dir)).toEqual(expected());
    const ours = (await listPerfStore(dir)).map((e) => `${e.buildId} ${e.path}`);
    expect(ours).toEqual(expected());
  });

  test("the layout is perf's to the byte: same links, same files, hard links on one file system", async () => {
    const mine = stores();
    const perfs = stores();
    for (const name of added) {
      const result = await addToPerfStore(files[name]!, { dir: mine });
      perfAdd(perfs, files[name]!);
      const theirs = join(perfs, ".build-id", result.buildId.slice(0, 2), result.buildId.slice(2));
      expect(readlinkSync(result.link)).toBe(readlinkSync(theirs));
      expect(result.method).toBe("hardlink");
      expect(statSync(result.elf).ino).toBe(statSync(files[name]!).ino);
      expect(statSync(join(theirs, "elf")).ino).toBe(statSync(files[name]!).ino);
    }
  });

  test("a second add changes nothing; an ID already linked for another path keeps its first link, as perf does", async () => {
    const dir = stores();
    await addToPerfStore(files.sha1!, { dir });
    expect((await addToPerfStore(files.sha1!, { dir })).method).toBe("present");
    const copy = join(work, "bin", "sha1-copy");
    execFileSync("cp", [files.sha1!, copy]);
    const again = await addToPerfStore(copy, { dir });
    expect(again.linkedElsewhere).toBe(`../..${files.sha1}/${again.buildId}`);
    expect(perfList(dir)).toEqual([`${again.buildId} ${files.sha1}`]);
  });

  test("across file systems the file is copied (temp file, fsync, rename), and perf still lists it", async (ctx) => {
    const shm = "/dev/shm";
    if (!existsSync(shm) || statSync(shm).dev === statSync(work).dev) {
      console.log(`perf-store: skipping the copy test: no ${shm} on another file system`);
      ctx.skip();
    }
    const dir = mkdtempSync(join(shm, "perf-store-"));
    try {
      const result = await addToPerfStore(files.sha1!, { dir });
      expect(result.method).toBe("copy");
      expect(execFileSync("cmp", [result.elf, files.sha1!]).length).toBe(0);
      expect(lstatSync(result.elf).mode & 0o777).toBe(statSync(files.sha1!).mode & 0o777);
      expect(perfList(dir)).toEqual([`${result.buildId} ${files.sha1}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a copy passes over temporaries a killed process with the same PID left behind, and leaves them as they were", () => {
    // A fresh process (its counter of temporaries at 0) plays the new holder of the PID: the temporaries
    // it would name first already exist in the ID's folder, as after an add with that PID was killed mid-copy.
    const dir = stores();
    const idDir = join(dir, files.sha1!, readelfBuildId(files.sha1!)!);
    const module = pathToFileURL(resolve(import.meta.dirname, "../../src/node/perf-store.ts")).href;
    const script = `
      import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
      import { addToPerfStore } from ${JSON.stringify(module)};
      const idDir = ${JSON.stringify(idDir)};
      mkdirSync(idDir, { recursive: true });
      for (let n = 0; n < 5; n++) writeFileSync(idDir + "/." + process.pid + "-" + n + ".tmp", "stale");
      const { method, elf } = await addToPerfStore(${JSON.stringify(files.sha1)}, { dir: ${JSON.stringify(dir)}, testHooks: { copy: true } });
      const stale = readdirSync(idDir).filter((name) => name.endsWith(".tmp"));
      console.log(JSON.stringify({ method, elf, stale: stale.map((name) => readFileSync(idDir + "/" + name, "utf8")) }));
    `;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: resolve(import.meta.dirname, "../.."),
      encoding: "utf8",
    });
    const { method, elf, stale } = JSON.parse(out);
    expect({ method, stale }).toEqual({ method: "copy", stale: Array(5).fill("stale") });
    expect(execFileSync("cmp", [elf, files.sha1!]).length).toBe(0);
    expect(perfList(dir)).toEqual([`${readelfBuildId(files.sha1!)} ${files.sha1}`]);
  });

  test("a separate debug file with the same ID is stored as DIR/PATH/ID/debug, as perf stores it", async () => {
    const id = readelfBuildId(files.sha1!)!;
    const debugRoot = join(work, "debug");
    const debugFile = join(debugRoot, ".build-id", id.slice(0, 2), `${id.slice(2)}.debug`);
    execFileSync("mkdir", ["-p", join(debugRoot, ".build-id", id.slice(0, 2))]);
    execFileSync("objcopy", ["--only-keep-debug", files.sha1!, debugFile]);
    const result = await addToPerfStore(files.sha1!, { dir: stores(), debugRoot });
    expect(result.debug).toBe(join(dirname(result.elf), "debug"));
    expect(readelfBuildId(result.debug!)).toBe(id);
    rmSync(debugRoot, { recursive: true });
  });
});

describe("perf adds, list reads it", () => {
  test("listPerfStore reads what perf buildid-cache --add wrote, IDs and paths and files", async () => {
    const dir = stores();
    for (const name of added) perfAdd(dir, files[name]!);
    const entries = await listPerfStore(dir);
    expect(entries.map((e) => `${e.buildId} ${e.path}`)).toEqual(expected());
    for (const e of entries) {
      expect(e.file).toBe(join(e.link, "elf"));
      expect(readelfBuildId(e.file!)!.slice(0, 40)).toBe(e.buildId);
    }
  });

  test("an empty or missing store lists nothing; a link not of perf's form has no path", async () => {
    expect(await listPerfStore(join(work, "nowhere"))).toEqual([]);
    const dir = stores();
    execFileSync("mkdir", ["-p", join(dir, ".build-id", "ab")]);
    execFileSync("ln", ["-s", "/elsewhere", join(dir, ".build-id", "ab", "cdef")]);
    expect(await listPerfStore(dir)).toEqual([
      { buildId: "abcdef", path: undefined, link: join(dir, ".build-id", "ab", "cdef"), file: undefined },
    ]);
    // perf's kernel entries: `../../[kernel.kallsyms]/ID` with the symbols in a file named kallsyms.
    const id = "ab".repeat(20);
    execFileSync("mkdir", ["-p", join(dir, "[kernel.kallsyms]", id)]);
    writeFileSync(join(dir, "[kernel.kallsyms]", id, "kallsyms"), "");
    execFileSync("ln", ["-s", `../../[kernel.kallsyms]/${id}`, join(dir, ".build-id", "ab", id.slice(2))]);
    expect((await listPerfStore(dir)).find((e) => e.buildId === id)).toEqual({
      buildId: id,
      path: "[kernel.kallsyms]",
      link: join(dir, ".build-id", "ab", id.slice(2)),
      file: join(dir, ".build-id", "ab", id.slice(2), "kallsyms"),
    });
  });
});

describe("bad input is refused by name, and nothing is written", () => {
  const cases: [string, (e: unknown) => void][] = [
    ["text", (e) => expect(e).toMatchObject({ name: "ElfError", code: "NOT_ELF" })],
    ["none", (e) => expect(e).toMatchObject({ name: "ElfError", code: "NO_BUILD_ID" })],
    ["fifo", (e) => expect(e).toBeInstanceOf(NotRegularFileError)],
  ];
  for (const [name, check] of cases) {
    test(`${name}`, async () => {
      const dir = join(stores(), "store");
      const error = await addToPerfStore(files[name]!, { dir }).catch((e: unknown) => e);
      check(error);
      expect((error as Error).message).toContain(files[name]!);
      expect(existsSync(dir)).toBe(false);
    });
  }

  test("a path that is not a string is a TypeError naming the value", async () => {
    await expect(addToPerfStore(42 as unknown as string)).rejects.toThrow(
      new TypeError("file must be a string, got 42"),
    );
    expect(() => perfStoreDir(7 as unknown as string)).toThrow(new TypeError("dir must be a string, got 7"));
  });

  test("the store defaults to $PERF_BUILDID_DIR, then ~/.debug", () => {
    const saved = process.env.PERF_BUILDID_DIR;
    try {
      process.env.PERF_BUILDID_DIR = join(work, "env-store");
      expect(perfStoreDir()).toBe(join(work, "env-store"));
      delete process.env.PERF_BUILDID_DIR;
      expect(perfStoreDir()).toMatch(/\/\.debug$/);
    } finally {
      if (saved === undefined) delete process.env.PERF_BUILDID_DIR;
      else process.env.PERF_BUILDID_DIR = saved;
    }
  });
});

describe("the add and list commands", () => {
  /** Runs one command line through the add and list commands and returns what it printed. */
  async function run(...args: string[]): Promise<{ out: string; err: string; exitCode: typeof process.exitCode }> {
    let out = "";
    let err = "";
    const saved = process.exitCode;
    const context = commandContext({
      out: (t) => {
        out += t;
      },
      err: (t) => {
        err += t;
      },
    });
    const program = registerList(registerAdd(new Command().exitOverride(), context), context);
    try {
      await program.parseAsync(args, { from: "user" });
      return { out, err, exitCode: process.exitCode };
    } finally {
      process.exitCode = saved;
    }
  }

  test("add prints ID PATH per file, list reads them back, perf lists the same; a refused file is named and fails the run", async () => {
    const dir = stores();
    const result = await run("add", "--dir", dir, files.sha1!, files.fifo!, files.md5!);
    const lines = [files.sha1!, files.md5!].map((f) => `${readelfBuildId(f)} ${f}`);
    expect(result.out).toBe(`${lines.join("\n")}\n`);
    expect(result.err).toBe(`buildid-cache: ${files.fifo} is a FIFO, not a regular file\n`);
    expect(result.exitCode).toBe(1);
    expect((await run("list", "--dir", dir)).out).toBe(`${lines.sort().join("\n")}\n`);
    expect(perfList(dir)).toEqual(lines.sort());
    const listed = JSON.parse((await run("list", "--dir", dir, "--json")).out) as { buildId: string }[];
    expect(listed.map((e) => e.buildId).sort()).toEqual(lines.map((l) => l.split(" ")[0]).sort());
  });
  test("the kernel's names perf buildid-list prints ([vdso], [kernel.kallsyms]) are skipped with a word, as perf skips them, not failures", async () => {
    const dir = join(stores(), "store");
    const names = ["[vdso]", "[kernel.kallsyms]"];
    const perf = spawnSync("perf", ["--buildid-dir", dir, "buildid-cache", ...names.flatMap((n) => ["--add", n])], {
      encoding: "utf8",
      env: { ...process.env, HOME: home },
    });
    expect(perf.status, perf.stderr).toBe(0);
    const result = await run("add", "--dir", dir, names[0]!, files.sha1!, names[1]!);
    expect(result.exitCode ?? 0).toBe(perf.status);
    expect(result.err).toBe(
      names.map((n) => `buildid-cache: skipped ${n}: the kernel's name for a mapping, not a file\n`).join(""),
    );
    expect(result.out).toBe(`${readelfBuildId(files.sha1!)} ${files.sha1}\n`);
    expect(perfList(dir)).toEqual([`${readelfBuildId(files.sha1!)} ${files.sha1}`]);
  });
});

describe("perf report", () => {
  test("symbolises a binary that is gone from the copy add stored, and not without it", async (ctx) => {
    const source = join(work, "busy.c");
    writeFileSync(
      source,
      `#include <stdio.h>
__attribute__((noinline)) double busy_loop(long n) { double x = 0; for (long i = 0; i < n; i++) x += i * 0.5; return x; }
int main(void) { printf("%f\\n", busy_loop(100000000)); return 0; }
`,
    );
    const binary = join(work, "bin", "busy");
    execFileSync("cc", ["-O1", "-o", binary, source]);
    const data = join(work, "busy.data");
    const env = { ...process.env, HOME: home };
    try {
      execFileSync("perf", ["record", "--no-buildid-cache", "-o", data, binary], { env, stdio: "ignore" });
    } catch (error) {
      console.log(`perf-store: skipping perf report: perf record failed (${(error as Error).message.split("\n")[0]})`);
      ctx.skip();
    }
    const dir = stores();
    await addToPerfStore(binary, { dir });
    rmSync(binary);
    const report = (store: string) =>
      execFileSync("perf", ["--buildid-dir", store, "report", "-i", data, "--stdio", "--sort", "dso,sym"], {
        encoding: "utf8",
        env,
        stdio: ["ignore", "pipe", "ignore"],
      });
    expect(report(dir)).toMatch(/busy\s+\[\.\] busy_loop/);
    expect(report(stores())).not.toMatch(/busy_loop/);
  });
});
