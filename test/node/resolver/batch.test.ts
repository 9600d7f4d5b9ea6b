// resolveInto's typed arrays against resolveMany's objects, field by field, over random address
// sets on live processes (code, data, anonymous, pseudo and unmapped addresses), on one resolver
// and one frozen clock per pair of calls, with the clock moved past the bounds between pairs, and
// after the process exits. RESOLVER_BATCH_SEED=n replays a run.
import { spawn } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Resolution } from "../../../src/node/resolver/answers.js";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { ResolutionResults, ResolveStatus, resolveFailure, resolveStatus } from "../../../src/node/resolver/results.js";
import {
  ABSENT_PID,
  killAndReap,
  type RawMapping,
  rawMaps,
  readelfBuildId,
  SLEEP,
  spawnMapping,
  spawnUnreaped,
  waitFor,
} from "../live.js";

const SEED = Number(process.env.RESOLVER_BATCH_SEED ?? Date.now() % 2 ** 31);
console.info(`resolver batch property tests: RESOLVER_BATCH_SEED=${SEED}`);

let sleeper: Awaited<ReturnType<typeof spawnMapping>>;
let node: ReturnType<typeof spawn>;
beforeAll(async () => {
  sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
  node = spawn(process.execPath, ["-e", "require('zlib');process.stdout.write('ready\\n');setInterval(()=>{},1e3)"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  await waitFor("the node child never started", () => (node.stdout!.read() !== null ? true : undefined));
}, 60_000);
afterAll(async () => {
  await killAndReap(sleeper);
  await killAndReap(node);
});

/** Addresses of every kind in `pid`'s maps now: starts, middles and last bytes, and a few nowhere. */
function candidates(pid: number): bigint[] {
  const maps = rawMaps(pid);
  const out = maps.flatMap((m) => [m.start, m.start + (m.end - m.start) / 2n, m.end - 1n]);
  for (let k = 1; k < maps.length; k++) if (maps[k]!.start > maps[k - 1]!.end) out.push(maps[k - 1]!.end);
  out.push(0n, 0x10n, (1n << 64n) - 1n, 1n << 63n);
  return out;
}

/** Checks `out`'s answer `i` against `r`, field by field, without going through `out.resolution`. */
function same(out: ResolutionResults, i: number, r: Resolution): void {
  const status = out.status[i]!;
  const p = out.place[i]!;
  if (r.ok) {
    expect(status).toBe(ResolveStatus.OK);
    const place = out.places[p]!;
    expect(place.file?.ok && place.file.buildId).toBe(r.buildId);
    expect(place.mapping).toEqual(r.mapping);
    expect(place.mapping.path).toBe(r.path);
    expect(place.via).toBe(r.via);
    expect(place.file?.ok && place.file.cached).toBe(r.cached);
    expect(place.verifiedAt).toBe(r.verifiedAt);
    expect(out.answeredAt - place.verifiedAt).toBe(r.ageMs);
    expect(out.fileOffset[i]).toBe(r.fileOffset);
    return;
  }
  expect(resolveFailure(status as never)).toBe(r.reason);
  expect(status).toBe(resolveStatus(r.reason));
  if (r.mapping === undefined) {
    expect(p).toBe(-1);
    expect(r.verifiedAt).toBe(r.reason === "no-mapping" ? out.verifiedAt : undefined);
    if (r.reason !== "no-mapping") expect(r.detail).toBe(out.detail);
    return;
  }
  const place = out.places[p]!;
  expect(place.mapping).toEqual(r.mapping);
  expect(place.verifiedAt).toBe(r.verifiedAt);
  expect(place.status).toBe(status);
  if (r.fileOffset !== undefined) expect(out.fileOffset[i]).toBe(r.fileOffset);
  if (place.file !== undefined && !place.file.ok) expect(place.file.detail).toBe(r.detail);
}

/** Address `i` in a file mapping of `files` (whitespace-split maps, readelf): its place and offset, and its build ID. */
function truth(out: ResolutionResults, i: number, a: bigint, files: RawMapping[]): void {
  const m = files.find((f) => f.start <= a && a < f.end);
  if (m === undefined) return;
  const place = out.places[out.place[i]!]!;
  expect(place.mapping.start).toBe(m.start);
  expect(place.mapping.path).toBe(m.path);
  expect(out.fileOffset[i]).toBe(a - m.start + m.offset);
  if (out.status[i] === ResolveStatus.OK) expect(place.file?.ok && place.file.buildId).toBe(readelfBuildId(m.path));
  else if (out.status[i] === ResolveStatus.NO_BUILD_ID) expect(readelfBuildId(m.path)).toBeNull();
  else expect([out.status[i], magic(m.path)]).toEqual([ResolveStatus.NOT_ELF, expect.not.stringMatching(/^7f454c46$/)]);
}

function magic(path: string): string {
  const fd = openSync(path, "r");
  try {
    const bytes = Buffer.alloc(4);
    readSync(fd, bytes, 0, 4, 0);
    return bytes.toString("hex");
  } finally {
    closeSync(fd);
  }
}

async function compare(resolver: BuildIdResolver, pid: number, addresses: bigint[], out: ResolutionResults) {
  const typed = BigUint64Array.from(addresses);
  // Warm first: within a pair the second call is served from what the first held (cached alike).
  await resolver.resolveMany(pid, addresses);
  await resolver.resolveInto(pid, typed, out);
  const objects = await resolver.resolveMany(pid, addresses);
  expect(out.length).toBe(addresses.length);
  objects.forEach((r, i) => {
    same(out, i, r);
    expect(out.resolution(i)).toEqual(r);
  });
  return objects;
}

test("every answer in the typed arrays is the object API's, over random address sets on live processes", async () => {
  const pids = [sleeper.pid!, node.pid!];
  const pools = new Map(pids.map((pid) => [pid, candidates(pid)]));
  const files = new Map(pids.map((pid) => [pid, rawMaps(pid).filter((m) => m.path.startsWith("/"))]));
  let t = 1_000_000;
  const resolver = await BuildIdResolver.create({ now: () => t, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
  const out = new ResolutionResults(64);
  const kinds = new Set<string>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...pids),
      fc.array(fc.nat(), { minLength: 1, maxLength: 64 }),
      fc.constantFrom(0, 50, 100, 999, 1000, 5000),
      async (pid, picks, advance) => {
        const pool = pools.get(pid)!;
        const addresses = picks.map((k) => pool[k % pool.length]!);
        t += advance;
        for (const r of await compare(resolver, pid, addresses, out)) kinds.add(r.ok ? "ok" : r.reason);
        for (const [i, a] of addresses.entries()) truth(out, i, a, files.get(pid)!);
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  // The sets met the kinds that take each path: a build ID, a file without one (locale data or
  // a data mapping of a file is still its file), anonymous memory and nowhere.
  expect([...kinds]).toEqual(expect.arrayContaining(["ok", "anonymous", "no-mapping"]));
}, 120_000);

test("after the process exits, and for a pid with no process, both APIs answer alike", async () => {
  // Unreaped, the dead process keeps its PID: no process the machine starts meanwhile answers for it.
  const child = await spawnUnreaped(SLEEP, ["infinity"], SLEEP);
  const pid = child.pid;
  try {
    const pool = candidates(pid);
    let t = 1_000_000;
    const resolver = await BuildIdResolver.create({ now: () => t, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
    const out = new ResolutionResults(pool.length);
    await compare(resolver, pid, pool, out);
    await child.kill();
    t += 100;
    // A process that exited keeps its last view: answered with their age, or exited.
    const after = await compare(resolver, pid, pool, out);
    expect(after.some((r) => r.ok)).toBe(true);
    for (const gonePid of [pid, ABSENT_PID]) {
      const fresh = await BuildIdResolver.create({ now: () => t });
      const gone = await compare(fresh, gonePid, pool, out);
      expect(new Set(gone.map((r) => !r.ok && r.reason))).toEqual(new Set(["exited"]));
      expect(out.place.subarray(0, pool.length).every((p) => p === -1)).toBe(true);
    }
  } finally {
    await child.release();
  }
}, 60_000);

test("bad arguments are refused with the value named, before anything is counted", async () => {
  const resolver = await BuildIdResolver.create();
  const out = new ResolutionResults(2);
  await expect(resolver.resolveInto(sleeper.pid!, new BigUint64Array(3), out)).rejects.toThrow(
    new RangeError("out holds 2 answers, fewer than the 3 addresses"),
  );
  await expect(resolver.resolveInto(sleeper.pid!, [1n] as unknown as BigUint64Array, out)).rejects.toThrow(
    new TypeError("addresses must be a BigUint64Array, got [object Array]"),
  );
  await expect(resolver.resolveInto(0, new BigUint64Array(1), out)).rejects.toThrow(
    new RangeError("pid must be an integer >= 1, got 0"),
  );
  expect(() => new ResolutionResults(0)).toThrow(
    new RangeError("capacity must be an integer from 1 to 16777216, got 0"),
  );
  expect(resolver.stats().addresses).toBe(0);
});

test("the default clock counts whole ms: every answer's verifiedAt and ageMs are integers", async () => {
  const resolver = await BuildIdResolver.create();
  const pool = candidates(node.pid!);
  let timed = 0;
  for (let k = 0; k < 5; k++) {
    for (const r of await resolver.resolveMany(node.pid!, pool)) {
      if (r.verifiedAt === undefined) continue;
      timed++;
      expect([r.verifiedAt, r.ageMs].map(Number.isInteger), `${r.verifiedAt}, ${r.ageMs}`).toEqual([true, true]);
    }
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
  expect(timed).toBeGreaterThan(0);
});
