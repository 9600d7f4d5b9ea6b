// Paths from outside (resolver candidates, readBuildIdFromFile, procfs files) are opened without
// blocking and refused on the handle when not a regular file. A broken build would hang in open(),
// so every FIFO here has a rescuer that opens its write end after a while: a hang then shows as a
// wrong answer, not as a stuck test run.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { takeCensus } from "../../src/node/census.js";
import { readBuildIdFromFile, readBuildIdFromFileSync } from "../../src/node/elf-file.js";
import { BuildIdResolver } from "../../src/node/resolver/resolver.js";
import { NotRegularFileError } from "../../src/node/safe-open.js";
import { readelfBuildId, SLEEP } from "./live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-safe-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;
// Long enough that a fixed build has long answered; a broken one is unblocked then and answers wrong.
const RESCUE_MS = 3000;

function fifo(name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

/** Opens the FIFO's write end after RESCUE_MS (from another process, so a blocked main thread is rescued too). */
function rescuer(path: string): ChildProcess {
  return spawn("sh", ["-c", `sleep ${RESCUE_MS / 1000}; : > "$0"`, path], { stdio: "ignore" });
}

async function rescued<T>(path: string, f: () => Promise<T> | T): Promise<T> {
  const child = rescuer(path);
  try {
    return await f();
  } finally {
    child.kill("SIGKILL");
  }
}

describe("readBuildIdFromFile by path", () => {
  test("a FIFO is refused unread, by the async and the blocking reader", async () => {
    const path = fifo("reader-fifo");
    const error = await rescued(path, () => readBuildIdFromFile(path).catch((e) => e));
    expect(error).toBeInstanceOf(NotRegularFileError);
    expect(error.message).toBe(`${path} is a FIFO, not a regular file`);
    const syncError = await rescued(path, () => {
      try {
        return readBuildIdFromFileSync(path);
      } catch (e) {
        return e as Error;
      }
    });
    expect(syncError).toBeInstanceOf(NotRegularFileError);
  });

  test.skipIf(!asRoot)("a copy of /dev/zero is refused as a character device, not read as an empty file", async () => {
    const zero = join(dir, "zero");
    execFileSync("mknod", [zero, "c", "1", "5"]);
    await expect(readBuildIdFromFile(zero)).rejects.toThrow(new NotRegularFileError(zero, "character device").message);
    expect(() => readBuildIdFromFileSync(zero)).toThrow(`${zero} is a character device, not a regular file`);
    await expect(readBuildIdFromFile("/dev/zero")).rejects.toBeInstanceOf(NotRegularFileError);
  });
});

describe("the resolver", () => {
  test("a FIFO given by path is not-elf, named as a FIFO", async () => {
    const path = fifo("resolve-fifo");
    const resolver = await BuildIdResolver.create();
    const r = await rescued(path, () => resolver.resolveFile(path));
    expect(r).toMatchObject({ ok: false, reason: "not-elf", detail: `${path} is a FIFO, not a regular file` });
  });

  test("a path flipping between a file and a FIFO never blocks: each answer is the file's or not-elf", async () => {
    // A flipper swaps the path between a plain file and a FIFO as fast as it can; with stat() then
    // open(), a stat that saw the file is followed by an open that meets the FIFO and blocks.
    const path = join(dir, "flip");
    const plain = join(dir, "flip-plain");
    writeFileSync(plain, "not ELF\n");
    const pipe = fifo("flip-fifo");
    const flipper = spawn(
      "python3",
      [
        "-c",
        "import os,sys\np,a,b,t=sys.argv[1:]\nwhile True:\n for s in (a,b):\n  os.link(s,t); os.rename(t,p)",
        path,
        plain,
        pipe,
        join(dir, "flip-tmp"),
      ],
      { stdio: "ignore" },
    );
    let hung = 0;
    try {
      while (!existsSync(path)) await new Promise((r) => setTimeout(r, 10));
      const resolver = await BuildIdResolver.create({ negativeTtlMs: 0 });
      const reasons = new Set<string>();
      for (let i = 0; i < 1000; i++) {
        const attempt = resolver.resolveFile(path);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise((r) => {
          timer = setTimeout(r, RESCUE_MS, "late");
        });
        if ((await Promise.race([attempt, late])) === "late") {
          hung++;
          // Unblocks the reader stuck in open() through the FIFO's own name.
          closeSync(openSync(pipe, constants.O_WRONLY | constants.O_NONBLOCK));
        }
        clearTimeout(timer);
        const r = await attempt;
        reasons.add(r.ok ? "ok" : r.reason);
      }
      expect(hung).toBe(0);
      for (const reason of reasons) expect(["not-elf", "missing"]).toContain(reason);
    } finally {
      flipper.kill("SIGKILL");
    }
  });
});

describe("a fake procfs whose maps is a FIFO", () => {
  const root = join(dir, "proc");
  const pid = 4242;
  mkdirSync(join(root, String(pid)), { recursive: true });
  mkdirSync(join(root, "sys/fs"), { recursive: true });
  writeFileSync(join(root, "sys/fs/file-nr"), "1000\t0\t9000\n");
  writeFileSync(
    join(root, String(pid), "stat"),
    `${pid} (fake) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0\n`,
  );
  const maps = join(root, String(pid), "maps");
  execFileSync("mkfifo", [maps]);

  test("the resolver answers bad-procfs and names the FIFO", async () => {
    const resolver = await BuildIdResolver.create({ procRoot: root });
    const r = await rescued(maps, () => resolver.resolve(pid, 0x1000n));
    expect(r).toMatchObject({ ok: false, reason: "bad-procfs", detail: `${maps} is a FIFO, not a regular file` });
  });

  test("the census refuses it with a typed error naming the path", async () => {
    const error = await rescued(maps, () => takeCensus({ procRoot: root, pids: [pid] }).catch((e) => e));
    expect(error).toBeInstanceOf(NotRegularFileError);
    expect(error.message).toBe(`${maps} is a FIFO, not a regular file`);
  });
});

test("the census counts a process whose maps never parse (a read torn by its changing mappings) and goes on", async () => {
  // Two ranges where the second starts inside the first: what a read of a process that mapped between the
  // kernel's pages of its maps gives, every time here. The other process's maps are real.
  const root = join(dir, "proc-torn");
  const pid = 4243;
  mkdirSync(join(root, String(pid)), { recursive: true });
  mkdirSync(join(root, "sys/fs"), { recursive: true });
  writeFileSync(join(root, "sys/fs/file-nr"), "1000\t0\t9000\n");
  writeFileSync(
    join(root, String(pid), "maps"),
    "7fac4c000000-7fac4c100000 rw-p 00000000 00:00 0 \n7fac4c000000-7fac4c057000 rw-p 00000000 00:00 0 \n",
  );
  mkdirSync(join(root, String(process.pid)));
  writeFileSync(join(root, String(process.pid), "maps"), readFileSync(`/proc/${process.pid}/maps`));
  const census = await takeCensus({ procRoot: root, pids: [pid, process.pid] });
  expect(census.processes).toMatchObject({ listed: 2, scanned: 1, changing: 1, pids: [process.pid] });
});

test("a regular file still resolves after all this", async () => {
  const copy = join(dir, "sleep-copy");
  copyFileSync(SLEEP, copy);
  linkSync(copy, join(dir, "sleep-link"));
  const resolver = await BuildIdResolver.create();
  expect(await resolver.resolveFile(join(dir, "sleep-link"))).toMatchObject({
    ok: true,
    buildId: readelfBuildId(SLEEP),
  });
});
