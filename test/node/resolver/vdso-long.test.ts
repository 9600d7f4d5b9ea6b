// The vdso resolves to the build ID eu-unstrip reads from the process's memory, and build IDs
// longer than the cache's 20 bytes resolve in full, from a live mapping and from the file.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { killAndReap, rawMaps, readelfBuildId, SLEEP, spawnMapping } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-vdso-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

/** The vdso line of `eu-unstrip -n -p PID`: start, size, build ID. */
function euVdso(pid: number): { start: bigint; size: bigint; buildId: string } {
  const out = execFileSync("eu-unstrip", ["-n", "-p", String(pid)], { encoding: "utf8" });
  const line = out.split("\n").find((l) => /\[vdso/.test(l) || /linux-vdso/.test(l));
  const m = /^0x([0-9a-f]+)\+0x([0-9a-f]+) ([0-9a-f]+)@/.exec(line ?? "");
  if (!m) throw new Error(`no vdso line with a build ID in eu-unstrip -n -p ${pid}:\n${out}`);
  return { start: BigInt(`0x${m[1]}`), size: BigInt(`0x${m[2]}`), buildId: m[3]! };
}

describe.skipIf(!hasTool("eu-unstrip"))("the vdso", () => {
  let sleeper: ChildProcess;
  beforeAll(async () => {
    sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
  });
  afterAll(() => killAndReap(sleeper));

  test("[vdso] resolves to eu-unstrip's build ID at offset address - start, read once per resolver", async () => {
    const resolver = await BuildIdResolver.create();
    for (const pid of [sleeper.pid!, process.pid]) {
      const eu = euVdso(pid);
      const vdso = rawMaps(pid).find((m) => m.path === "[vdso]")!;
      expect(vdso.start).toBe(eu.start);
      const r = await resolver.resolve(pid, vdso.start + 0x123n);
      expect(r).toMatchObject({ ok: true, path: "[vdso]", buildId: eu.buildId, fileOffset: 0x123n });
    }
    expect(resolver.stats().reads).toBe(1);
  });

  test("[vsyscall] stays a pseudo mapping", async () => {
    const vsyscall = rawMaps(sleeper.pid!).find((m) => m.path === "[vsyscall]");
    if (vsyscall === undefined) return;
    const resolver = await BuildIdResolver.create();
    expect(await resolver.resolve(sleeper.pid!, vsyscall.start)).toMatchObject({
      ok: false,
      reason: "anonymous",
      detail: "[vsyscall] has no file",
    });
  });
});

// A 32-bit static program that does nothing: linkable here without 32-bit libraries.
function build32(path: string): boolean {
  try {
    execFileSync("cc", ["-m32", "-nostdlib", "-static", "-Wl,--build-id", "-o", path, "-x", "c", "-"], {
      input: "void _start(void) { for (;;) {} }\n",
      stdio: ["pipe", "ignore", "ignore"],
    });
    return true;
  } catch {
    return false;
  }
}

const image32 = join(dir, "vdso32");
test.skipIf(!build32(image32))(
  "a target of another ABI (its exe is 32-bit) gets the vdso image from its own memory, even at our vdso's size",
  async () => {
    // A fake procfs: exe is a 32-bit ELF, mem holds that image at the [vdso] range, which has
    // the size of this process's own vdso, so only the ABI tells the two images apart.
    const own = rawMaps(process.pid).find((m) => m.path === "[vdso]")!;
    const root = join(dir, "proc");
    const pid = 4343;
    const proc = join(root, String(pid));
    mkdirSync(proc, { recursive: true });
    const start = 0x10000n;
    const end = start + (own.end - own.start);
    writeFileSync(join(proc, "stat"), `${pid} (fake) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0\n`);
    writeFileSync(join(proc, "maps"), `${start.toString(16)}-${end.toString(16)} r-xp 00000000 00:00 0 [vdso]\n`);
    symlinkSync(image32, join(proc, "exe"));
    const mem = openSync(join(proc, "mem"), "w");
    writeSync(mem, readFileSync(image32), 0, undefined, Number(start));
    closeSync(mem);
    const resolver = await BuildIdResolver.create({ procRoot: root });
    expect(await resolver.resolve(pid, start + 4n)).toMatchObject({
      ok: true,
      path: "[vdso]",
      buildId: readelfBuildId(image32),
      fileOffset: 4n,
    });
  },
);

describe("build IDs longer than 20 bytes", () => {
  const LONG = "0123456789abcdef".repeat(4);
  const lib = join(dir, "long.so");
  const remap = join(dir, "remap");
  const at = 0x1000_0000_0000n;
  let child: ChildProcess;
  beforeAll(async () => {
    execFileSync("cc", ["-shared", "-fPIC", "-o", lib, `-Wl,--build-id=0x${LONG}`, "-x", "c", "-"], {
      input: "int answer(void) { return 42; }\n",
    });
    execFileSync("cc", ["-O1", "-o", remap, new URL("../../fixtures/proc/remap.c", import.meta.url).pathname]);
    child = spawn(remap, ["mapped", lib, `0x${at.toString(16)}`], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe("file");
  });
  afterAll(() => killAndReap(child));

  test("the linker wrote a 32-byte ID", () => {
    expect(readelfBuildId(lib)).toBe(LONG);
  });

  test("a live mapping and the file resolve to the full ID, cached, and survive a save and restore", async () => {
    const resolver = await BuildIdResolver.create();
    expect(await resolver.resolve(child.pid!, at + 4n)).toMatchObject({
      ok: true,
      buildId: LONG,
      path: lib,
      fileOffset: 4n,
      cached: false,
    });
    expect(await resolver.resolveFile(lib)).toMatchObject({ ok: true, buildId: LONG, cached: true });
    expect(resolver.stats()).toMatchObject({ reads: 1, longIds: 1 });
    expect(resolver.cache.size).toBe(0);
    const restored = await BuildIdResolver.create({
      restore: { cache: resolver.cache.snapshot(), stamps: resolver.exportStamps() },
    });
    expect(await restored.resolveFile(lib)).toMatchObject({ ok: true, buildId: LONG, cached: true });
    expect(restored.stats().reads).toBe(0);
  });
});
