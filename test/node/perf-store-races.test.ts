// `add` against files that change under it, and against itself. A source cut short or rewritten in
// place while it is copied (the change made by another process, truncate(1) or dd(1), at a chosen
// point of the copy through the @internal afterChunk hook) must fail by name and leave the store as
// it was, on a store on another file system (a tmpfs mounted for the test, so link(2) gives EXDEV)
// and on a forced copy. Two adds of one build ID from two paths at once, in one process and in two,
// must keep the first link and tell the second. Build IDs come from a seed (BUILDID_SEED to replay).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  type BigIntStats,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { addToPerfStore, type PerfStoreAdded, PerfStoreError } from "../../src/node/perf-store.js";
import { hexIds, mulberry32, seedFrom } from "../helpers/random.js";
import { readelfBuildId } from "./live.js";

const hexId = hexIds(mulberry32(seedFrom("BUILDID_SEED", "perf-store-races")));
const ADDER = fileURLToPath(new URL("../helpers/store-adder.ts", import.meta.url));
const CHUNK = 1 << 20; // the copy's chunk: the hooks below act after the first of 8
const SIZE = 8 * CHUNK;

let work: string;
let elf: string;
let small: string; // the same ELF without the zeros, for the races of links
let n = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "buildid-store-races-"));
  elf = join(work, "prog");
  execFileSync("cc", ["-x", "c", "-", "-o", elf, `-Wl,--build-id=0x${hexId(20)}`], {
    input: "int main(void) { return 0; }\n",
  });
  small = join(work, "small");
  execFileSync("cp", [elf, small]);
  execFileSync("truncate", ["-s", String(SIZE), elf]); // zeros after the ELF: the copy takes 8 chunks
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh copy of `from` (default the 8 MiB test ELF), at a path of its own under `under`. */
function source(name = "src", under = work, from = elf): string {
  const folder = join(under, `${name}-${n++}`);
  mkdirSync(folder);
  const path = join(folder, "prog");
  execFileSync("cp", [from, path]);
  return path;
}

/** A child process that adds a path to a store when told to; the answer is what addToPerfStore returned. */
function spawnAdder(): ((dir: string, path: string) => Promise<PerfStoreAdded>) & { child: ChildProcess } {
  const child = spawn(process.execPath, ["--import", "tsx", ADDER], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const add = async (dir: string, path: string) => {
    child.stdin!.write(`${dir}\t${path}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error(`the adder exited (${child.exitCode ?? child.signalCode})`);
    const answer = JSON.parse(value as string) as PerfStoreAdded & { error?: string };
    if (answer.error !== undefined) throw new Error(answer.error);
    return answer;
  };
  return Object.assign(add, { child });
}

/** Every path under `dir`, relative, sorted: what a store holds. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/**
 * Runs `body` with a file system mounted at a fresh folder: a tmpfs, or an ext4 image of 128-byte
 * inodes (whole-second timestamps); undefined, with the reason printed, where that is not permitted.
 */
async function withMount<T>(kind: "tmpfs" | "ext4-1s", body: (mount: string) => Promise<T>): Promise<T | undefined> {
  const mount = mkdtempSync(join(tmpdir(), "buildid-store-mount-"));
  const image = join(work, `fs-${n++}.img`);
  try {
    if (kind === "tmpfs") execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mount], { stdio: "pipe" });
    else {
      execFileSync("truncate", ["-s", "64M", image]);
      execFileSync("mkfs.ext4", ["-q", "-F", "-I", "128", image], { stdio: "pipe" });
      execFileSync("mount", ["-o", "loop", image, mount], { stdio: "pipe" });
    }
  } catch (error) {
    console.log(`perf-store-races: cannot mount ${kind} (${(error as Error).message.split("\n")[0]}); skipping`);
    rmSync(mount, { recursive: true });
    return undefined;
  }
  try {
    return await body(mount);
  } finally {
    execFileSync("umount", [mount]);
    rmSync(mount, { recursive: true });
    rmSync(image, { force: true });
  }
}

/**
 * Checks that a rewrite in place during the copy was refused, by the right check: by the file's
 * stamps when they changed, else (the write fell in the tick of its last change) by its bytes.
 */
function expectRewriteRefused(error: unknown, path: string, before: BigIntStats): "stamps" | "bytes" {
  const after = statSync(path, { bigint: true });
  const stamped = after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs;
  expect(error).toMatchObject({ name: "PerfStoreError", code: "CHANGED", path });
  expect((error as Error).message).toMatch(
    stamped
      ? /^\S+ changed while it was copied \((mtime|ctime) \d+ -> \d+/
      : /^\S+ changed while it was copied \(bytes at 0 differ from the copy's\); nothing was stored$/,
  );
  return stamped ? "stamps" : "bytes";
}

/** Adds `path` with `change` run (by the test, through another process) after the first chunk is copied. */
function addChanging(path: string, dir: string, change: () => void, copy = true): Promise<unknown> {
  let done = false;
  const afterChunk = async () => {
    if (done) return;
    done = true;
    change();
  };
  return addToPerfStore(path, { dir, testHooks: { copy, afterChunk } }).catch((e: unknown) => e);
}

const cutShort = (path: string) => () => execFileSync("truncate", ["-s", "54321", path]);
const rewritten = (path: string) => () =>
  execFileSync("dd", ["if=/dev/urandom", `of=${path}`, "bs=4096", "count=1", "seek=4", "conv=notrunc"], {
    stdio: "ignore",
  });

describe("a file that changes while it is copied is refused and leaves nothing", () => {
  test("cut short by another process, to a store on another file system (EXDEV): SHORT, naming the path", async (ctx) => {
    const done = await withMount("tmpfs", async (mount) => {
      const path = source();
      const dir = join(mount, "store");
      mkdirSync(dir);
      expect(statSync(dir).dev).not.toBe(statSync(path).dev);
      const error = await addChanging(path, dir, cutShort(path), false);
      expect(error).toBeInstanceOf(PerfStoreError);
      expect(error).toMatchObject({
        code: "SHORT",
        path,
        message: `${path} ended at ${CHUNK} bytes while it was copied, short of the ${SIZE} it had when its build ID was read; nothing was stored`,
      });
      expect(tree(dir)).toEqual([]);
      // The same file, whole again, is stored by a copy: the path was the only thing wrong.
      execFileSync("cp", [elf, path]);
      expect(await addToPerfStore(path, { dir })).toMatchObject({ method: "copy", buildId: readelfBuildId(elf) });
      return true;
    });
    if (!done) ctx.skip();
  });

  test("cut short on a forced copy: SHORT, the ID folder and the folders above it removed", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const path = source();
    const error = await addChanging(path, dir, cutShort(path));
    expect(error).toMatchObject({ name: "PerfStoreError", code: "SHORT", path });
    expect(tree(dir)).toEqual([]);
  });

  test("rewritten in place, same size, long after its last change: CHANGED by its mtime and ctime", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const path = source();
    await new Promise((resolve) => setTimeout(resolve, 100)); // past any timestamp tick of the cp
    const error = await addChanging(path, dir, rewritten(path));
    expect(error).toMatchObject({ name: "PerfStoreError", code: "CHANGED", path });
    expect((error as Error).message).toMatch(/^\S+ changed while it was copied \(mtime \d+ -> \d+, ctime \d+ -> \d+\)/);
    expect(statSync(path).size).toBe(SIZE);
    expect(tree(dir)).toEqual([]);
  });

  test("rewritten in place within moments of its last change: CHANGED, by its stamps or, when they did not move, by its bytes", async () => {
    const rounds = Number(process.env.STORE_RACY_ROUNDS ?? 10);
    const by = { stamps: 0, bytes: 0 };
    for (let round = 0; round < rounds; round++) {
      const dir = mkdtempSync(join(work, "store-"));
      const path = source(); // its ctime is now: the copy starts inside the racy window
      const before = statSync(path, { bigint: true });
      by[expectRewriteRefused(await addChanging(path, dir, rewritten(path)), path, before)]++;
      expect(tree(dir)).toEqual([]);
    }
    console.log(`perf-store-races: ${rounds} racy rewrites refused, ${by.stamps} by stamps, ${by.bytes} by bytes`);
  });

  test("on whole-second timestamps (ext4, 128-byte inodes) a rewrite in the second of the file's last change moves no stamp: caught by its bytes", async (ctx) => {
    const done = await withMount("ext4-1s", async (mount) => {
      const dir = join(mount, "store");
      mkdirSync(dir);
      await new Promise((resolve) => setTimeout(resolve, 1005 - (Date.now() % 1000))); // the start of a second
      const path = source("src", mount);
      const before = statSync(path, { bigint: true });
      expect(before.ctimeNs % 1_000_000_000n).toBe(0n);
      const caughtBy = expectRewriteRefused(await addChanging(path, dir, rewritten(path)), path, before);
      console.log(`perf-store-races: a rewrite on whole-second timestamps caught by ${caughtBy}`);
      expect(tree(dir)).toEqual([]);
      return true;
    });
    if (!done) ctx.skip();
  });

  test("an unchanged file on a forced copy is stored byte for byte, and perf lists it", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const path = source();
    const added = await addToPerfStore(path, { dir, testHooks: { copy: true } });
    expect(added.method).toBe("copy");
    expect(readFileSync(added.elf).equals(readFileSync(path))).toBe(true);
    expect(statSync(added.elf).ino).not.toBe(statSync(path).ino);
    const listed = execFileSync("perf", ["--buildid-dir", dir, "buildid-cache", "--list"], {
      encoding: "utf8",
      env: { ...process.env, HOME: work },
    });
    expect(listed.trim()).toBe(`${readelfBuildId(elf)} ${path}`);
  });

  test("a hard link is the file itself: a rewrite after the add shows in the store (what perf does too)", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const path = source();
    const added = await addToPerfStore(path, { dir });
    expect(added.method).toBe("hardlink");
    rewritten(path)();
    expect(statSync(added.elf).ino).toBe(statSync(path).ino);
    expect(readFileSync(added.elf).equals(readFileSync(path))).toBe(true);
  });
});

describe("two paths with one build ID added at once: the first link stays, the second is told", () => {
  /** Checks a round: one add made the link, the other names it, and the link is the first one's. */
  function oneWinner(results: Pick<PerfStoreAdded, "path" | "buildId" | "link" | "linkedElsewhere">[]): void {
    const winners = results.filter((r) => r.linkedElsewhere === undefined);
    expect(winners).toHaveLength(1);
    const target = `../..${winners[0]!.path}/${winners[0]!.buildId}`;
    for (const r of results) if (r !== winners[0]) expect(r.linkedElsewhere).toBe(target);
    expect(readlinkSync(winners[0]!.link)).toBe(target);
  }

  test("in one process (Promise.all), every round", async () => {
    const rounds = Number(process.env.STORE_RACE_ROUNDS ?? 20);
    for (let round = 0; round < rounds; round++) {
      const dir = mkdtempSync(join(work, "store-"));
      const paths = [source("a", work, small), source("b", work, small)];
      oneWinner(await Promise.all(paths.map((p) => addToPerfStore(p, { dir }))));
      expect(readdirSync(join(dir, ".build-id", readelfBuildId(elf)!.slice(0, 2)))).toHaveLength(1);
    }
  });

  test("in two processes, every round", async () => {
    const adders = [spawnAdder(), spawnAdder()];
    try {
      const rounds = Number(process.env.STORE_RACE_ROUNDS ?? 50);
      for (let round = 0; round < rounds; round++) {
        const dir = mkdtempSync(join(work, "store-"));
        const paths = [source("a", work, small), source("b", work, small)];
        oneWinner(await Promise.all(adders.map((add, i) => add(dir, paths[i]!))));
      }
    } finally {
      for (const add of adders) add.child.stdin!.end();
    }
  }, 300_000);
});
