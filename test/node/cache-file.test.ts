// Cache files as a database treats its files, through the real CLI: only regular files are read
// or replaced, a symbolic link's target is replaced and the link kept, mode and owner survive, a
// file that could not be read or understood is left alone (exit 3) unless --reset-cache, long
// names work, errors name their paths, signals and a closed stdout still save.
import { execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import {
  CacheFilePathError,
  cacheFilePath,
  cacheFileTarget,
  lockCacheFileSync,
  replaceFileSync,
} from "../../src/node/cache-file.js";
import { identityKey } from "../../src/node/identity.js";
import { loadResolver, stampsPath } from "../../src/node/resolver/persist.js";
import { bundleCli, type CliRun, elfFiles, profileOf, runCli } from "../helpers/cli.js";
import { writeElf } from "../helpers/elf-writer.js";
import { edited, Layout } from "../helpers/snapshot-bytes.js";
import { thrownBy } from "../helpers/thrown.js";
import { ABSENT_PID } from "./live.js";

const asRoot = process.getuid?.() === 0;
let dir: string;
let cli: string;
let files: string[];
let elves: string[];
let profile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bic-cache-file-"));
  cli = await bundleCli(join(dir, "bundle"));
  elves = await elfFiles(24);
  files = elves.slice(0, 8);
  profile = join(dir, "in.pb");
  writeFileSync(profile, profileOf(files));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
}, 120_000);

/** A new folder of the test's own, under the file's temporary folder. */
const fresh = (name = "case"): string => mkdtempSync(join(dir, `${name}-`));

/** `annotate` of the test profile with `--cache-file cacheFile` and `extra` options. */
function annotate(cacheFile: string, ...extra: string[]): Promise<CliRun> {
  const out = join(fresh("out"), "out.pb");
  return runCli(cli, ["annotate", profile, "-o", out, "--cache-file", cacheFile, ...extra]);
}

async function entries(cacheFile: string): Promise<number> {
  return (await loadResolver(cacheFile)).cache.size;
}

describe("only a regular file is read or replaced", () => {
  const nodes = asRoot
    ? ([
        ["a copy of /dev/null", "c", 1, 3],
        ["a copy of /dev/zero", "c", 1, 5],
      ] as const)
    : [];
  for (const [what, type, major, minor] of nodes) {
    test(`${what} is refused before any read and left a device (exit 3)`, async () => {
      const path = join(fresh(), "cache");
      execFileSync("mknod", [path, type, String(major), String(minor)]);
      const run = await annotate(path);
      expect(run.code).toBe(3);
      expect(run.stderr).toBe(
        `buildid-cache: cannot use cache file ${path}: ${path} is a character device, not a regular file; it was left as it was\n`,
      );
      expect(lstatSync(path).isCharacterDevice()).toBe(true);
      expect(lstatSync(path).rdev).toBe(statSync(major === 1 && minor === 3 ? "/dev/null" : "/dev/zero").rdev);
    });
  }

  test("a FIFO and a directory are refused without blocking and left as they were (exit 3)", async () => {
    const folder = fresh();
    const fifo = join(folder, "fifo");
    execFileSync("mkfifo", [fifo]);
    const fifoRun = await annotate(fifo);
    expect(fifoRun.code).toBe(3);
    expect(fifoRun.stderr).toContain(`${fifo} is a FIFO, not a regular file`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const sub = join(folder, "sub");
    mkdirSync(sub);
    const dirRun = await annotate(sub, "--reset-cache");
    expect(dirRun.code).toBe(3);
    expect(dirRun.stderr).toContain(`${sub} is a directory, not a regular file`);
    expect(await readdir(sub)).toEqual([]);
  });
});

describe("a path that names no file", () => {
  test('--cache-file "" is a usage error naming its value before any work (exit 2), and nothing is written', async () => {
    const out = join(fresh(), "o.pb");
    const run = await runCli(cli, ["annotate", profile, "-o", out, "--cache-file", ""]);
    expect(run.stderr.split("\n")[0]).toBe(
      `buildid-cache: option '--cache-file <path>' argument '' is invalid. --cache-file must be a path, got ""`,
    );
    expect(run.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  test("every entry point refuses the empty path with a CacheFilePathError, never taking it for the current folder", async () => {
    const refused = new CacheFilePathError("cache file", "");
    expect(() => cacheFileTarget("")).toThrow(refused);
    expect(() => stampsPath("")).toThrow(refused);
    expect(() => replaceFileSync("", new Uint8Array(1))).toThrow(refused);
    expect(() => lockCacheFileSync("")).toThrow(refused);
    await expect(loadResolver("")).rejects.toBeInstanceOf(CacheFilePathError);
    expect(() => cacheFilePath("", "--cache-file")).toThrow(new CacheFilePathError("--cache-file", ""));
    expect(thrownBy(() => cacheFilePath("", "--cache-file"))).toBeInstanceOf(RangeError);
    expect(() => cacheFilePath(7)).toThrow(new TypeError("cache file must be a string, got 7"));
    expect(thrownBy(() => cacheFileTarget(""))).toMatchObject({ name: "CacheFilePathError", code: "EINVAL", path: "" });
  });
});

describe("symbolic links are followed: the target is replaced, the link stays", () => {
  for (const dangling of [false, true]) {
    test(dangling ? "a dangling link gets its target created" : "a link to a cache file", async () => {
      const folder = fresh();
      const target = join(folder, "real.cache");
      const link = join(folder, "link.cache");
      symlinkSync("real.cache", link);
      if (!dangling) expect((await annotate(target)).code).toBe(0);
      const before = dangling ? 0 : await entries(target);
      const run = await annotate(link);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe("real.cache");
      expect(stampsPath(link)).toBe(`${target}.stamps`);
      expect(existsSync(`${link}.stamps`)).toBe(false);
      expect(await entries(target)).toBeGreaterThanOrEqual(Math.max(before, 1));
    });
  }
});

describe("the replacement keeps the old file's mode and owner", () => {
  test("our own 0600 snapshot and stamps stay 0600", async () => {
    const path = join(fresh(), "cache");
    expect((await annotate(path)).code).toBe(0);
    chmodSync(path, 0o600);
    chmodSync(stampsPath(path), 0o600);
    expect((await annotate(path)).code).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(stampsPath(path)).mode & 0o777).toBe(0o600);
  });

  test.runIf(asRoot)("another user's 0640 file keeps its owner when root saves it", async () => {
    const path = join(fresh(), "cache");
    expect((await annotate(path)).code).toBe(0);
    chownSync(path, 65534, 65534);
    chmodSync(path, 0o640);
    expect((await annotate(path)).code).toBe(0);
    const st = statSync(path);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o640]);
  });
});

describe("a file that could not be read or understood is never overwritten unless --reset-cache", () => {
  async function good(): Promise<string> {
    const path = join(fresh(), "cache");
    expect((await annotate(path)).code).toBe(0);
    return path;
  }

  async function refusedThenReset(path: string, damage: string, why: RegExp, extra: string[] = []): Promise<void> {
    const bytes = readFileSync(damage);
    const run = await annotate(path, ...extra);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toMatch(why);
    expect(run.stderr).toContain("it was left as it was (reset: true or --reset-cache replaces it)");
    expect(readFileSync(damage)).toEqual(bytes);
    const reset = await annotate(path, ...extra, "--reset-cache");
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stderr).toMatch(/^buildid-cache: replacing /);
    expect(await entries(path)).toBeGreaterThan(0);
  }

  test("more entries than --capacity", async () => {
    const path = await good();
    const count = await entries(path);
    await refusedThenReset(path, path, new RegExp(`snapshot holds ${count} entries, more than capacity 1`), [
      "--capacity",
      "1",
    ]);
  });

  test("a newer format version", async () => {
    const path = await good();
    writeFileSync(
      path,
      edited(readFileSync(path), (_, v) => v.setUint16(Layout.version, 2, true)),
    );
    await refusedThenReset(path, path, /UNSUPPORTED_VERSION/);
  });

  test("a valid snapshot beside a corrupt .stamps", async () => {
    const path = await good();
    writeFileSync(stampsPath(path), "{ not json");
    await refusedThenReset(
      path,
      stampsPath(path),
      new RegExp(`cannot use cache file ${stampsPath(path)}: stamps are not JSON`),
    );
  });

  test.runIf(asRoot)("another user's file this user cannot read", async () => {
    const folder = fresh();
    chmodSync(dir, 0o755);
    chmodSync(folder, 0o777);
    const path = join(folder, "cache");
    expect((await annotate(path)).code).toBe(0);
    chmodSync(path, 0o600);
    const bytes = readFileSync(path);
    const run = await runCli(cli, ["annotate", profile, "-o", join(folder, "o.pb"), "--cache-file", path], {
      uid: 65534,
    });
    expect(run.code, run.stderr).toBe(3);
    expect(run.stderr).toContain(`cannot use cache file ${path}: ${path}: EACCES`);
    expect(readFileSync(path)).toEqual(bytes);
  });
});

test("a temporary a killed process with the same PID left behind is passed over, and left as it was", () => {
  // A fresh process (its counter of temporaries at 0) plays the new holder of the PID: the temporaries
  // it would name first already exist, as after a saver with that PID was killed mid-save.
  const folder = fresh("stale");
  const target = join(folder, "cache.snap");
  const module = pathToFileURL(resolve(import.meta.dirname, "../../src/node/cache-file.ts")).href;
  const script = `
    import { readdirSync, readFileSync, writeFileSync } from "node:fs";
    import { replaceFileSync } from ${JSON.stringify(module)};
    const folder = ${JSON.stringify(folder)};
    for (let n = 0; n < 5; n++) writeFileSync(folder + "/.cache.snap." + process.pid + "-" + n + ".tmp", "stale");
    replaceFileSync(${JSON.stringify(target)}, new TextEncoder().encode("new"));
    const stale = readdirSync(folder).filter((name) => name.endsWith(".tmp"));
    console.log(JSON.stringify({ saved: readFileSync(${JSON.stringify(target)}, "utf8"), stale: stale.map((name) => readFileSync(folder + "/" + name, "utf8")) }));
  `;
  const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: resolve(import.meta.dirname, "../.."),
    encoding: "utf8",
  });
  expect(JSON.parse(out)).toEqual({ saved: "new", stale: Array(5).fill("stale") });
});

test("a 245-character file name works: temporary names fit in NAME_MAX", async () => {
  const path = join(fresh(), "c".repeat(245));
  const run = await annotate(path);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  expect(await entries(path)).toBeGreaterThan(0);
  expect((await readdir(join(path, ".."))).filter((name) => name.endsWith(".tmp") || name.endsWith(".lock"))).toEqual(
    [],
  );
});

describe("every I/O error names its path", () => {
  test.runIf(asRoot)("ENOSPC on a full file system: the cache file's path, exit 4, the old file intact", async () => {
    const mount = fresh("full");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
    try {
      const path = join(mount, "cache");
      expect((await annotate(path)).code).toBe(0);
      const bytes = readFileSync(path);
      // Fill it but one page, which the lock file's pid takes; the snapshot's temporary file gets none.
      writeFileSync(join(mount, "spare"), new Uint8Array(4096));
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=4k"], { stdio: "ignore" });
      } catch {} // dd stops at ENOSPC
      rmSync(join(mount, "spare"));
      const run = await annotate(path, "--capacity", "64");
      expect(run.code, run.stderr).toBe(4);
      expect(run.stderr).toMatch(new RegExp(`^buildid-cache: ${path}: ENOSPC: no space left on device, write\\n$`));
      expect(readFileSync(path)).toEqual(bytes);
    } finally {
      execFileSync("umount", [mount]);
    }
  });

  test("/dev/full as the annotated output: refused by name, nothing written", async () => {
    const run = await runCli(cli, ["annotate", profile, "-o", "/dev/full"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("buildid-cache: /dev/full is a character device, not a regular file\n");
  });
});

// The CLI's own pid is the one process whose maps the test knows will be there as long as it runs.
function selfAddresses(count: number): string[] {
  const maps = readFileSync("/proc/self/maps", "utf8").split("\n");
  const text = maps.find((line) => / r-xp /.test(line) && line.includes("/node"))!;
  const start = BigInt(`0x${text.split("-")[0]}`);
  return Array.from({ length: count }, (_, i) => `0x${(start + BigInt(i * 16)).toString(16)}`);
}

describe("pipes and signals", () => {
  test("resolve | head -1: the output stops, the cache file is saved, exit 0 without a stack trace", async () => {
    const path = join(fresh(), "cache");
    const run = await runCli(cli, ["resolve", String(process.pid), ...selfAddresses(4000), "--cache-file", path], {
      started: (child) => {
        let seen = "";
        child.stdout!.on("data", (chunk: string) => {
          seen += chunk;
          if (seen.includes("\n")) child.stdout!.destroy();
        });
      },
    });
    expect(run.stderr).toBe("");
    expect([run.code, run.signal]).toEqual([0, null]);
    expect(await entries(path)).toBe(1);
  });

  test("annotate --json | head -1: the same", async () => {
    const folder = fresh();
    const path = join(folder, "cache");
    const many = join(folder, "many.pb");
    writeFileSync(many, profileOf(Array.from({ length: 3000 }, (_, i) => files[i % files.length]!)));
    const run = await runCli(cli, ["annotate", many, "-o", join(folder, "o.pb"), "--json", "--cache-file", path], {
      started: (child) => child.stdout!.once("data", () => child.stdout!.destroy()),
    });
    expect(run.stderr).toBe("");
    expect([run.code, run.signal]).toEqual([0, null]);
    expect(await entries(path)).toBeGreaterThan(0);
  });

  // 30,000 distinct ELF files: the run goes on for seconds, adding an entry per file. Made once for both
  // signals (22 s to write and 12 s to remove at load 24), each run with a cache file of its own.
  let longProfile: string | undefined;
  const makeLongProfile = (): string => {
    if (longProfile !== undefined) return longProfile;
    const folder = fresh("long");
    const elfDir = join(folder, "elves");
    mkdirSync(elfDir);
    const names = Array.from({ length: 30_000 }, (_, i) => {
      const id = new Uint8Array(20);
      new DataView(id.buffer).setUint32(0, i + 1);
      const name = join(elfDir, `${i}.so`);
      writeFileSync(name, writeElf({ elfClass: 64, endian: "little", areas: [{ notes: [{ desc: id }] }] }).bytes);
      return name;
    });
    longProfile = join(folder, "long.pb");
    writeFileSync(longProfile, profileOf(names));
    return longProfile;
  };

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${signal} during a long annotate saves the work done and exits ${code}`, async () => {
      const long = makeLongProfile();
      const folder = fresh();
      const path = join(folder, "cache");
      let atFirstSave = 0;
      const args = ["annotate", long, "-o", join(folder, "o.pb"), "--cache-file", path, "--save-interval", "1"];
      const run = await runCli(cli, args, {
        timeoutMs: 540_000,
        // Signal once an interval save holds entries: the resolver is at work, and has saved.
        started: (child) => {
          let looking = false;
          const poll = setInterval(async () => {
            if (looking || !existsSync(stampsPath(path)) || child.exitCode !== null) return;
            looking = true;
            atFirstSave = await entries(path).catch(() => 0);
            looking = false;
            if (atFirstSave === 0) return;
            clearInterval(poll);
            child.kill(signal);
          }, 20);
          child.on("close", () => clearInterval(poll));
        },
      });
      expect(run.stderr).toBe("");
      expect([run.code, run.signal]).toEqual([code, null]);
      expect(existsSync(join(folder, "o.pb"))).toBe(false);
      expect(atFirstSave).toBeGreaterThan(0);
      expect(await entries(path)).toBeGreaterThanOrEqual(atFirstSave);
    }, 600_000); // 82 s at load 20 on 2 cores, past 120 s at load 35
  }
});

// Six savers a round: with the lock taken out of saveMerged, 9 rounds of 9 lost an update, where two savers
// lost one in 9 rounds of 60 (20 rounds of two, 40 processes, missed the fault about one run in 26; this is 18).
test("3 rounds of six processes annotating into one cache file: every process's entries survive", async () => {
  const all = elves.slice(0, 24);
  const parts = Array.from({ length: 6 }, (_, i) => all.slice(i * 4, (i + 1) * 4));
  const folder = fresh("concurrent");
  const profiles = parts.map((part, i) => {
    const p = join(folder, `part-${i}.pb`);
    writeFileSync(p, profileOf(part));
    return p;
  });
  const expected = all.map((file) => identityKey(statSync(file, { bigint: true })));
  let lost = 0;
  for (let round = 0; round < 3; round++) {
    const path = join(folder, `round-${round}.cache`);
    const runs = await Promise.all(
      profiles.map((p, i) =>
        runCli(cli, ["annotate", p, "-o", join(folder, `o-${round}-${i}.pb`), "--json", "--cache-file", path]),
      ),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const filled = runs.flatMap((run) => (JSON.parse(run.stdout) as { filled: { filename: string }[] }).filled);
    const resolver = await loadResolver(path);
    const missing = expected.filter((key, i) => filled.some((m) => m.filename === all[i]) && !resolver.cache.has(key));
    if (missing.length > 0) lost++;
  }
  expect(lost, `rounds that lost an update`).toBe(0);
}, 300_000);

test("a stale lock (its process gone) is taken over and removed", async () => {
  const path = join(fresh(), "cache");
  // Not an exited child's PID: on a busy machine another process may hold it by now.
  writeFileSync(`${path}.lock`, `${ABSENT_PID}\n`);
  const run = await annotate(path);
  expect(run.code, run.stderr).toBe(0);
  expect(existsSync(`${path}.lock`)).toBe(false);
  expect((await BuildIdCache.restore(readFileSync(path))).size).toBeGreaterThan(0);
});

test("a lock whose PID another process took since is stale: taken over at once, not waited on", async () => {
  const path = join(fresh(), "cache");
  const taker = spawn("sleep", ["60"], { stdio: "ignore" });
  try {
    await new Promise((resolve, reject) => taker.once("spawn", resolve).once("error", reject));
    // The crashed holder wrote its lock 10 s before the process now at its PID started.
    writeFileSync(`${path}.lock`, `${taker.pid}\n`);
    const written = new Date(Date.now() - 10_000);
    utimesSync(`${path}.lock`, written, written);
    lockCacheFileSync(path, { timeoutMs: 2000 })();
    expect(existsSync(`${path}.lock`)).toBe(false);
    // A lock written after its holder started stays held.
    writeFileSync(`${path}.lock`, `${taker.pid}\n`);
    expect(thrownBy(() => lockCacheFileSync(path, { timeoutMs: 50 }))).toMatchObject({ code: "ELOCKED" });
  } finally {
    taker.kill("SIGKILL");
  }
});

test("--save-interval of 2^31 ms or more is refused: exit 2, naming the flag and its range", async () => {
  const run = await runCli(cli, [
    "resolve",
    "1",
    "0x10",
    "--cache-file",
    join(fresh(), "c"),
    "--save-interval",
    "2147484",
  ]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('--save-interval must be an integer from 1 to 2147483, got "2147484"');
});
