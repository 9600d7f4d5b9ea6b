import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { takeCensus } from "../../src/node/census.js";
import { formatCensus } from "../../src/node/census-report.js";
import type { FileResolution } from "../../src/node/resolver/answers.js";
import { BuildIdResolver } from "../../src/node/resolver/resolver.js";
import { bundleCli } from "../helpers/cli.js";
import {
  ABSENT_PID,
  canSetLastPid,
  killAndReap,
  rawMaps,
  readelfBuildId,
  SLEEP,
  spawnMapping,
  spawnWithPid,
} from "./live.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;

// The test's own count, without src/node/: per PID, the distinct (dev, inode) of file mappings
// and whether each file starts with the ELF magic (read through map_files, which root may do).
function independentCount(pids: number[]): Map<number, Map<string, boolean>> {
  const byPid = new Map<number, Map<string, boolean>>();
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/maps`, "utf8");
    } catch {
      continue;
    }
    const files = new Map<string, boolean>();
    for (const line of text.split("\n")) {
      const fields = line.split(/\s+/);
      if (fields.length < 6 || !fields[5]!.startsWith("/")) continue;
      const key = `${fields[3]} ${fields[4]}`;
      if (files.has(key)) continue;
      const magic = Buffer.alloc(4);
      let elf = false;
      try {
        // map_files names drop the zero padding maps prints (00400000 -> 400000).
        const range = fields[0]!.replace(/^0+(?=.)/, "").replace(/-0+(?=.)/, "-");
        const fd = openSync(`/proc/${pid}/map_files/${range}`, "r");
        try {
          elf = readSync(fd, magic, 0, 4, 0) === 4 && magic.toString("latin1") === "\x7fELF";
        } finally {
          closeSync(fd);
        }
      } catch {}
      files.set(key, elf);
    }
    byPid.set(pid, files);
  }
  return byPid;
}

function elfObjects(byPid: Map<number, Map<string, boolean>>, pids: Iterable<number>): number {
  const elf = new Set<string>();
  for (const pid of pids) for (const [key, isElf] of byPid.get(pid) ?? []) if (isElf) elf.add(key);
  return elf.size;
}

// map_files can be opened by root only (CAP_SYS_ADMIN / CAP_CHECKPOINT_RESTORE).
const asRoot = process.getuid?.() === 0;

const livePids = () =>
  readdirSync("/proc")
    .filter((n) => /^[0-9]+$/.test(n))
    .map(Number);

const dir = mkdtempSync(join(tmpdir(), "bic-census-"));
// A program whose build ID is longer than the kernel's 20 bytes, as `ld --build-id=0x…` writes.
const LONG_ID = "0123456789abcdef".repeat(4);
const longProgram = join(dir, "long-id");
execFileSync("cc", ["-o", longProgram, `-Wl,--build-id=0x${LONG_ID}`, "-x", "c", "-"], {
  input: "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n",
});

let sleeper: Awaited<ReturnType<typeof spawnMapping>>;
let longOne: Awaited<ReturnType<typeof spawnMapping>>;
beforeAll(async () => {
  sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
  longOne = await spawnMapping(longProgram, [], longProgram);
});
afterAll(async () => {
  await killAndReap(sleeper);
  await killAndReap(longOne);
  rmSync(dir, { recursive: true, force: true });
});

test.skipIf(!asRoot)(
  "the mmapped ELF objects of a process the test controls agree with the independent count",
  async () => {
    const pid = sleeper.pid!;
    const census = await takeCensus({ pids: [pid] });
    const mine = independentCount([pid]);
    expect(census.processes.pids).toEqual([pid]);
    expect(census.files.mapped).toBe(mine.get(pid)!.size);
    expect(census.files.elf).toBe(elfObjects(mine, [pid]));
    expect(census.files.elf).toBeGreaterThanOrEqual(3); // sleep, libc, the dynamic loader
    expect(census.files.withBuildId).toBe(census.files.elf);
    expect(census.profilerPass.resolved).toBe(census.mappings.executableFile);
  },
);

test("a build ID longer than 20 bytes is counted as one, kept beside the cache and left out of the kernel designs", async () => {
  expect(readelfBuildId(longProgram)).toBe(LONG_ID);
  const census = await takeCensus({ pids: [sleeper.pid!, longOne.pid!] });
  const { withBuildId, longBuildId } = census.files;
  expect(longBuildId).toBe(1);
  expect(withBuildId).toBe(census.files.elf);
  expect(census.resolver.longIds).toBe(longBuildId);
  expect(census.cache.inserts).toBe(withBuildId - longBuildId);
  expect(census.cache.size).toBe(withBuildId - longBuildId);
  expect(census.population.elfInodes).toBe(withBuildId - longBuildId);
  expect(census.profilerPass.resolved).toBe(census.mappings.executableFile);
  expect(formatCensus(census)).toContain(
    `${withBuildId - longBuildId} build IDs inserted, ${longBuildId} kept beside the cache`,
  );
});

test.skipIf(!asRoot)(
  "the whole machine's mmapped ELF objects agree with the independent count on the PIDs both saw",
  async () => {
    // Processes come and go (other work shares this machine): compare on the PIDs both scanned,
    // taken back to back, and retry when a process mapped something new in between.
    let last = "";
    for (let attempt = 0; attempt < 3; attempt++) {
      const pids = livePids();
      const mine = independentCount(pids);
      const census = await takeCensus({ pids: [...mine.keys()] });
      const both = census.processes.pids.filter((p) => mine.has(p));
      // Only the processes the test controls are sure to live through both counts.
      expect(both).toEqual(expect.arrayContaining([process.pid, sleeper.pid]));
      const again = independentCount(both);
      if (census.files.elf === elfObjects(mine, both) || census.files.elf === elfObjects(again, both)) {
        expect(census.files.elf).toBeGreaterThan(0);
        return;
      }
      last = `census ${census.files.elf}, independent ${elfObjects(mine, both)} then ${elfObjects(again, both)}`;
    }
    expect.fail(`counts never agreed: ${last}`);
  },
  900_000, // a census of the whole machine: 190 s at load 28 under nice 10
);

test("a process gone before its maps are read is counted as exited, not fatal", async () => {
  // Not a reaped child's PID: on a busy machine another process may hold it by now.
  const census = await takeCensus({ pids: [ABSENT_PID, sleeper.pid!] });
  expect(census.processes).toMatchObject({ listed: 2, scanned: 1, exited: 1, pids: [sleeper.pid] });
});

test("a process that exits between the census reading its maps and resolving them still gets its build ID, by path", async () => {
  // A copy only this process maps, so no other sighting can answer for it.
  const copy = join(dir, "sleep-exits");
  copyFileSync(SLEEP, copy);
  await new Promise((r) => setTimeout(r, 50)); // its ctime well before the census reads the maps
  const doomed = await spawnMapping(copy, ["infinity"], copy);
  const resolver = await BuildIdResolver.create();
  const answers: FileResolution[] = [];
  let squatter: ChildProcess | undefined;
  const resolveMapping = resolver.resolveMapping.bind(resolver);
  resolver.resolveMapping = async (pid, mapping, seenAt) => {
    if (doomed.exitCode === null && doomed.signalCode === null) {
      // Well after the maps were read (start times count 10 ms ticks), the process exits, and as on
      // a busy machine, a process started since may take its PID: here one is made to.
      await new Promise((r) => setTimeout(r, 50));
      await killAndReap(doomed);
      if (canSetLastPid()) squatter = await spawnWithPid(pid, SLEEP, ["infinity"]);
    }
    const r = await resolveMapping(pid, mapping, seenAt);
    if (mapping.path === copy) answers.push(r);
    return r;
  };
  onTestFinished(async () => {
    if (squatter) await killAndReap(squatter);
  });
  try {
    const census = await takeCensus({ pids: [doomed.pid!], resolver });
    expect(census.processes.scanned).toBe(1);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ ok: true, buildId: readelfBuildId(copy) });
    expect(census.files, JSON.stringify(census.files)).toMatchObject({ unreadable: 0 });
  } finally {
    await killAndReap(doomed);
  }
});

test("the report names every count it prints", async () => {
  const census = await takeCensus({ pids: [sleeper.pid!] });
  const report = formatCensus(census);
  expect(report).toMatch(new RegExp(`distinct mmapped ELF objects +${census.files.elf}\\b`));
  expect(report).toMatch(
    new RegExp(`struct file instances \\(file-nr\\) +${census.kernel.fileNr!.allocated.toLocaleString("en-US")}\\b`),
  );
  for (const d of census.designs) expect(report).toContain(d.label);
});

describe("the command line", () => {
  // Bundled once: under tsx each run compiled the CLI again (census --json took 189 s of the 300 s timeout at load 24).
  let script: string;
  beforeAll(async () => {
    script = await bundleCli(join(dir, "bundle"));
  });
  const cli = (...args: string[]) => run(process.execPath, [script, ...args], { cwd: root });

  test("census --json parses and has every field", async () => {
    const { stdout, stderr } = await cli("census", "--json");
    expect(stderr).toBe("");
    const c = JSON.parse(stdout);
    expect(Object.keys(c).sort()).toEqual(
      [
        "takenAt",
        "durationMs",
        "kernel",
        "processes",
        "mappings",
        "files",
        "population",
        "designs",
        "breakEven",
        "profilerPass",
        "cache",
        "resolver",
      ].sort(),
    );
    expect(Object.keys(c.kernel).sort()).toEqual(
      ["release", "fileNr", "filpSlab", "inodeNr", "inodeSlabs", "inodeSlabObjects"].sort(),
    );
    expect(Object.keys(c.processes).sort()).toEqual(
      ["listed", "scanned", "withoutMappings", "exited", "denied", "changing", "pids"].sort(),
    );
    expect(Object.keys(c.files).sort()).toEqual(
      [
        "mapped",
        "elf",
        "withBuildId",
        "longBuildId",
        "withoutBuildId",
        "malformedElf",
        "notElf",
        "unreadable",
        "executable",
      ].sort(),
    );
    expect(c.designs.map((d: { design: string }) => d.design)).toEqual([
      "pointer-per-file",
      "pointer-per-inode",
      "stolen-bit",
    ]);
    // The kernel counts come from the files the issue names.
    const fileNr = readFileSync("/proc/sys/fs/file-nr", "utf8").split(/\s+/).map(Number);
    expect(c.kernel.fileNr.max).toBe(fileNr[2]);
    if (asRoot) expect(c.kernel.filpSlab.name).toBe("filp");
    // Relations that hold whatever else runs: every ID that fits was inserted by the files pass, and
    // the profiler pass inserts only what it read afresh (a process that exec'd or came and went).
    const fitting = c.files.withBuildId - c.files.longBuildId;
    expect(c.cache.inserts).toBeGreaterThanOrEqual(fitting);
    expect(c.cache.inserts).toBeLessThanOrEqual(fitting + c.profilerPass.resolved - c.profilerPass.fromCache);
    expect(c.resolver.longIds).toBeGreaterThanOrEqual(c.files.longBuildId);
    expect(c.population.elfInodes).toBe(fitting);
  }, 900_000); // the whole machine again, in the CLI: 153 s at load 28 under nice 10

  test("without procfs it says so and exits 5", async () => {
    const failure = await cli("census", "--proc", "/nonexistent-proc").catch((e) => e);
    expect(failure.code).toBe(5);
    expect(failure.stderr).toBe("buildid-cache: no procfs at /nonexistent-proc: ENOENT\n");
  });

  test("resolve prints build ID, path and offset; --cache-file saves and restores the cache", async () => {
    const { stdout } = await cli("resolve", String(sleeper.pid), "0x10", "--json");
    expect(JSON.parse(stdout)).toEqual([
      { address: "0x10", ok: false, reason: "no-mapping", detail: `no mapping of process ${sleeper.pid} holds 0x10` },
    ]);
    const text = rawMaps(sleeper.pid!).find((m) => m.path === SLEEP && m.perms[2] === "x")!;
    const at = `0x${(text.start + 0x20n).toString(16)}`;
    const cacheFile = join(dir, "cache.bidc");
    const expected = {
      address: at,
      ok: true,
      buildId: readelfBuildId(SLEEP),
      path: SLEEP,
      fileOffset: `0x${(text.offset + 0x20n).toString(16)}`,
    };
    const first = JSON.parse(
      (await cli("resolve", String(sleeper.pid), at, "--json", "--cache-file", cacheFile)).stdout,
    );
    expect(first).toEqual([{ ...expected, cached: false }]);
    expect(existsSync(cacheFile) && existsSync(`${cacheFile}.stamps`)).toBe(true);
    const second = JSON.parse(
      (await cli("resolve", String(sleeper.pid), at, "--json", "--cache-file", cacheFile)).stdout,
    );
    expect(second).toEqual([{ ...expected, cached: true }]);
    const bad = await cli("resolve", "12", "zz").catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('address must be hex (0x...) or decimal below 2^64, got "zz"');
  });
});
