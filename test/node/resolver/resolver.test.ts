import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { StampsFormatError } from "../../../src/node/resolver/stamps.js";
import {
  ABSENT_PID,
  killAndReap,
  rawMaps,
  readelfBuildId,
  SLEEP,
  spawnMapping,
  spawnUnreaped,
  waitFor,
} from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-resolver-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIBC = rawMaps(process.pid).find((m) => /\/libc\.so\.6$/.test(m.path))!.path;

describe("a live process the test started", () => {
  let sleeper: Awaited<ReturnType<typeof spawnMapping>>;
  beforeAll(async () => {
    sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
  });
  afterAll(() => killAndReap(sleeper));

  test("every executable file mapping resolves to readelf's build ID at address - start + offset", async () => {
    const resolver = await BuildIdResolver.create();
    const exec = rawMaps(sleeper.pid!).filter((m) => m.perms[2] === "x" && m.path.startsWith("/"));
    expect(exec.map((m) => m.path)).toEqual(expect.arrayContaining([SLEEP, LIBC]));
    const addresses = exec.flatMap((m) => [m.start, m.start + (m.end - m.start) / 2n, m.end - 1n]);
    const results = await resolver.resolveMany(sleeper.pid!, addresses);
    results.forEach((r, i) => {
      const m = exec[Math.floor(i / 3)]!;
      expect(r.ok, m.path).toBe(true);
      if (!r.ok) return;
      expect(r.buildId).toBe(readelfBuildId(m.path));
      expect(r.path).toBe(m.path);
      expect(r.fileOffset).toBe(addresses[i]! - m.start + m.offset);
    });
    expect(resolver.stats().reads).toBe(new Set(exec.map((m) => m.path)).size);
  });

  test("a second look is served from the cache; anonymous memory and unmapped addresses say why", async () => {
    let now = 0;
    const resolver = await BuildIdResolver.create({ now: () => now, mapsMaxAgeMs: 100 });
    const maps = rawMaps(sleeper.pid!);
    const text = maps.find((m) => m.path === SLEEP && m.perms[2] === "x")!;
    const stack = maps.find((m) => m.path === "[stack]")!;
    const first = await resolver.resolve(sleeper.pid!, text.start);
    const second = await resolver.resolve(sleeper.pid!, text.start + 1n);
    expect([first.ok && first.cached, second.ok && second.cached]).toEqual([false, true]);
    expect(resolver.cacheStats().hits).toBe(1);
    expect((await resolver.resolve(sleeper.pid!, 0x10n)).ok).toBe(false);
    expect(resolver.stats().refreshes).toBe(0);
    now += 100;
    const [inStack, nowhere] = await resolver.resolveMany(sleeper.pid!, [stack.start, 0x10n]);
    expect(inStack).toMatchObject({
      ok: false,
      reason: "anonymous",
      detail: "[stack] has no file",
    });
    expect(nowhere).toMatchObject({
      ok: false,
      reason: "no-mapping",
      detail: `no mapping of process ${sleeper.pid} holds 0x10`,
    });
    // Past the bound the miss re-read the maps once, in case they were stale.
    expect(resolver.stats().refreshes).toBe(1);
  });

  test("bad arguments are refused with the value named", async () => {
    const resolver = await BuildIdResolver.create();
    await expect(resolver.resolve(0, 1n)).rejects.toThrow(new RangeError("pid must be an integer >= 1, got 0"));
    await expect(resolver.resolve(sleeper.pid!, 1 as unknown as bigint)).rejects.toThrow(
      new TypeError("address must be a bigint in [0, 2^64), got 1"),
    );
    await expect(resolver.resolve(sleeper.pid!, -1n)).rejects.toThrow("address must be a bigint in [0, 2^64), got -1n");
    await expect(resolver.resolveMany(sleeper.pid!, [1n, 1n << 64n])).rejects.toThrow("got 18446744073709551616n");
    await expect(resolver.resolveFile(42 as unknown as string)).rejects.toThrow(
      new TypeError("path must be a string, got 42"),
    );
    await expect(BuildIdResolver.create({ mapsMaxAgeMs: 1.5 })).rejects.toThrow(
      new RangeError("mapsMaxAgeMs must be an integer >= 0, got 1.5"),
    );
    await expect(BuildIdResolver.create({ negativeTtlMs: -1 })).rejects.toThrow(
      "negativeTtlMs must be an integer >= 0, got -1",
    );
  });
});

test("maps gone stale after an exec are re-read, and the new program's build ID comes back", async () => {
  const child = await spawnMapping("/bin/sh", ["-c", `read line; exec ${SLEEP} infinity`], "/usr/bin/dash");
  try {
    let now = 0;
    const resolver = await BuildIdResolver.create({ now: () => now });
    const shText = rawMaps(child.pid!).find((m) => m.path === "/usr/bin/dash" && m.perms[2] === "x")!;
    expect(await resolver.resolve(child.pid!, shText.start)).toMatchObject({
      ok: true,
      buildId: readelfBuildId("/usr/bin/dash"),
    });
    child.stdin!.write("go\n");
    const sleepText = await waitFor("the shell never exec'd sleep", () =>
      rawMaps(child.pid!).find((m) => m.path === SLEEP && m.perms[2] === "x"),
    );
    now += 100;
    const r = await resolver.resolve(child.pid!, sleepText.start + 16n);
    expect(r).toMatchObject({
      ok: true,
      path: SLEEP,
      buildId: readelfBuildId(SLEEP),
      fileOffset: sleepText.offset + 16n,
    });
    expect(resolver.stats()).toMatchObject({ refreshes: 1, replaced: 1 });
  } finally {
    await killAndReap(child);
  }
});

test("a process that exits between two looks is reported as exited, and nothing throws", async () => {
  // Its parent never reaps it: dead, it keeps its PID from every process the machine starts meanwhile.
  const child = await spawnUnreaped(SLEEP, ["infinity"], SLEEP);
  const pid = child.pid;
  try {
    // The held view must already show libc's code (the loader maps it after the program).
    const libc = await waitFor("libc's code mapped", () =>
      rawMaps(pid).find((m) => m.path === LIBC && m.perms[2] === "x"),
    );
    const text = rawMaps(pid).find((m) => m.path === SLEEP && m.perms[2] === "x")!;
    const resolver = await BuildIdResolver.create({ now: () => 0 });
    expect((await resolver.resolve(pid, text.start)).ok).toBe(true);
    await child.kill();
    // Samples taken before the exit still resolve through the held maps: libc is reached by its
    // path here, checked against the (device, inode) the maps recorded.
    expect(await resolver.resolve(pid, libc.start)).toMatchObject({
      ok: true,
      path: LIBC,
      buildId: readelfBuildId(LIBC),
    });
    expect(resolver.stats().replaced).toBe(0);
    resolver.forget(pid);
    expect(await resolver.resolveMany(pid, [text.start, libc.start])).toMatchObject([
      { ok: false, reason: "exited", detail: `process ${pid} exited (a zombie, not yet reaped)` },
      { ok: false, reason: "exited" },
    ]);
    expect(resolver.stats().failures.exited).toBe(2);
  } finally {
    await child.release();
  }
  const resolver = await BuildIdResolver.create();
  expect(await resolver.resolve(ABSENT_PID, 0x1000n)).toMatchObject({
    ok: false,
    reason: "exited",
    detail: `process ${ABSENT_PID} exited (ENOENT)`,
  });
});

describe("files replaced in place", () => {
  const other = "/usr/bin/env";

  test("same inode, new bytes: the new build ID is served, never the old one", async () => {
    const path = join(dir, "replaced");
    copyFileSync(SLEEP, path);
    const inode = statSync(path).ino;
    const resolver = await BuildIdResolver.create();
    expect(await resolver.resolveFile(path)).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP) });
    expect(await resolver.resolveFile(path)).toMatchObject({ ok: true, cached: true });
    writeFileSync(path, readFileSync(other)); // truncates and rewrites the same inode
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    expect(statSync(path).ino).toBe(inode);
    expect(readelfBuildId(path)).toBe(readelfBuildId(other));
    expect(await resolver.resolveFile(path)).toMatchObject({ ok: true, buildId: readelfBuildId(other), cached: false });
    expect(resolver.stats().stale).toBe(1);
    expect(resolver.cacheStats().updates).toBe(1);
  });

  test("even with the old mtime put back, the change of ctime gives it away", async () => {
    const path = join(dir, "sneaky");
    copyFileSync(SLEEP, path);
    const reference = join(dir, "sneaky-times");
    writeFileSync(reference, "");
    execFileSync("touch", ["-r", path, reference]);
    const resolver = await BuildIdResolver.create();
    expect(await resolver.resolveFile(path)).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP) });
    const bytes = readFileSync(SLEEP);
    const id = readelfBuildId(SLEEP)!;
    // Same size, one build-ID byte flipped in place, mtime restored.
    const at = bytes.indexOf(Buffer.from(id, "hex"));
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(path, bytes);
    execFileSync("touch", ["-r", reference, path]);
    expect(statSync(path, { bigint: true }).mtimeNs).toBe(statSync(reference, { bigint: true }).mtimeNs);
    const r = await resolver.resolveFile(path);
    expect(r).toMatchObject({ ok: true, buildId: readelfBuildId(path), cached: false });
    expect(r.ok && r.buildId).not.toBe(id);
  });
});

describe("negative entries", () => {
  test("files without a build ID, non-ELF files and malformed ELF are cached for a bounded time", async () => {
    const noId = join(dir, "no-build-id");
    execFileSync("cc", ["-x", "c", "-o", noId, "-Wl,--build-id=none", "-"], { input: "int main(void){return 0;}" });
    expect(readelfBuildId(noId)).toBeNull();
    const text = join(dir, "text");
    writeFileSync(text, "not an ELF file\n");
    const broken = join(dir, "broken");
    writeFileSync(broken, readFileSync(SLEEP).subarray(0, 40));
    let now = 1_000_000;
    const resolver = await BuildIdResolver.create({ negativeTtlMs: 1000, now: () => now });
    expect(await resolver.resolveFile(noId)).toMatchObject({ ok: false, reason: "no-build-id", cached: false });
    expect(await resolver.resolveFile(text)).toMatchObject({
      ok: false,
      reason: "not-elf",
      detail: `${text} is not ELF`,
    });
    expect(await resolver.resolveFile(broken)).toMatchObject({ ok: false, reason: "bad-elf" });
    expect(await resolver.resolveFile("/dev/null")).toMatchObject({
      ok: false,
      reason: "not-elf",
      detail: "/dev/null is a character device, not a regular file",
    });
    expect(await resolver.resolveFile(join(dir, "absent"))).toMatchObject({
      ok: false,
      reason: "missing",
      detail: `${join(dir, "absent")}: ENOENT`,
    });
    const reads = resolver.stats().reads;
    now += 999;
    expect(await resolver.resolveFile(noId)).toMatchObject({ ok: false, reason: "no-build-id", cached: true });
    expect(await resolver.resolveFile(text)).toMatchObject({ ok: false, reason: "not-elf", cached: true });
    expect(resolver.stats()).toMatchObject({ reads, negativeHits: 2, negativeEntries: 3 });
    now += 1;
    expect(await resolver.resolveFile(noId)).toMatchObject({ ok: false, reason: "no-build-id", cached: false });
    expect(resolver.stats().reads).toBe(reads + 1);
  });

  test("the negative table keeps at most negativeCapacity entries", async () => {
    const resolver = await BuildIdResolver.create({ negativeCapacity: 2 });
    for (let i = 0; i < 4; i++) {
      const path = join(dir, `plain-${i}`);
      writeFileSync(path, `plain ${i}\n`);
      await resolver.resolveFile(path);
    }
    expect(resolver.stats().negativeEntries).toBe(2);
  });
});

test("saved stamps vouch for restored entries; an entry whose stamp is missing or disagrees is dropped", async () => {
  const a = join(dir, "saved-a");
  const b = join(dir, "saved-b");
  copyFileSync(SLEEP, a);
  copyFileSync("/usr/bin/env", b);
  const first = await BuildIdResolver.create({ capacity: 64 });
  await first.resolveFile(a);
  await first.resolveFile(b);
  const cache = first.cache.snapshot();
  const stamps = JSON.parse(new TextDecoder().decode(first.exportStamps())) as { format: string; stamps: string[][] };
  expect(stamps.stamps).toHaveLength(2);
  const keepA = stamps.stamps.filter((row) => row[6] === readelfBuildId(SLEEP));
  const restored = await BuildIdResolver.create({
    restore: { cache, stamps: new TextEncoder().encode(JSON.stringify({ ...stamps, stamps: keepA })) },
  });
  expect(restored.stats()).toMatchObject({ restored: 1, restoreDropped: 1 });
  expect(restored.cache.size).toBe(1);
  expect(await restored.resolveFile(a)).toMatchObject({ ok: true, cached: true, buildId: readelfBuildId(SLEEP) });
  expect(await restored.resolveFile(b)).toMatchObject({ ok: true, cached: false });
  await expect(BuildIdResolver.create({ restore: { cache, stamps: new TextEncoder().encode("{}") } })).rejects.toThrow(
    new StampsFormatError('stamps format is undefined, expected "buildid-cache stamps 1"'),
  );
});

/** Runs `body` (a module script that prints JSON, with `BuildIdResolver` and `readMaps` imported) as nobody; its output, parsed. */
async function asNobody(body: string): Promise<unknown> {
  const src = (path: string) => JSON.stringify(new URL(`../../../${path}`, import.meta.url).href);
  const script = `
    const { BuildIdResolver } = await import(${src("src/node/resolver/resolver.ts")});
    const { readMaps } = await import(${src("src/node/procfs/maps.ts")});
    const wasm = ${src("build/core.wasm")};
    ${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    uid: 65534,
    gid: 65534,
    cwd: new URL("../../..", import.meta.url).pathname,
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const code = await new Promise((r) => child.on("exit", r));
  expect(err).toBe("");
  expect(code).toBe(0);
  return JSON.parse(out);
}

describe.skipIf(process.getuid?.() !== 0)("without CAP_SYS_ADMIN (as nobody)", () => {
  test("a process of another user: maps it may not read are a permission failure, counted, not thrown", async () => {
    // The child asks about this (root) test process.
    const out = await asNobody(`
      const r = await BuildIdResolver.create({ wasm });
      const out = await r.resolve(${process.pid}, 0x1000n);
      console.log(JSON.stringify({ reason: out.reason, denied: r.stats().failures.permission }));`);
    expect(out).toEqual({ reason: "permission", denied: 1 });
  });

  test("map_files may not be followed: the file is reached by its path in the process's root, and the answer says so", async () => {
    const out = await asNobody(`
      const r = await BuildIdResolver.create({ wasm });
      const text = (await readMaps(process.pid)).find((m) => m.path === process.execPath && m.exec);
      const out = await r.resolve(process.pid, text.start + 16n);
      console.log(JSON.stringify({ ok: out.ok, buildId: out.buildId, via: out.via, path: out.path }));`);
    expect(out).toEqual({ ok: true, buildId: readelfBuildId(process.execPath), via: "root", path: process.execPath });
  });
});
