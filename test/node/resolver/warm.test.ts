// The warm path's rules, counted on a live process with the test's clock: each file a call meets is
// checked once, however many of its mappings the addresses fall in; an address in a known
// anonymous mapping is an answer and re-reads nothing (the view is re-read past fileMaxAgeMs);
// an address outside every mapping re-reads the maps at most once per mapsMaxAgeMs.
import { afterAll, beforeAll, expect, test } from "vitest";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { killAndReap, rawMaps, SLEEP, spawnMapping } from "../live.js";

let sleeper: Awaited<ReturnType<typeof spawnMapping>>;
beforeAll(async () => {
  sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
});
afterAll(() => killAndReap(sleeper));

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function addresses() {
  const maps = rawMaps(sleeper.pid!);
  const files = maps.filter((m) => m.path.startsWith("/"));
  const anonymous = maps.filter((m) => m.path === "" || m.path === "[heap]" || m.path === "[stack]");
  expect(anonymous.length).toBeGreaterThan(0);
  return {
    files: files.map((m) => m.start),
    distinct: new Set(files.map((m) => `${m.dev} ${m.inode}`)).size,
    mappings: files.length,
    anonymous: anonymous.map((m) => m.start),
  };
}

test("each file is checked once per call however many of its mappings the call meets, and again only past fileMaxAgeMs", async () => {
  const { files, distinct, mappings } = addresses();
  expect(mappings).toBeGreaterThan(distinct);
  const time = clock();
  const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
  // sleep maps ELF files and, with a locale set, locale data (not ELF): each is checked all the same.
  const answers = await resolver.resolveMany(sleeper.pid!, files);
  expect(answers.filter((r) => !r.ok && r.reason !== "not-elf")).toEqual([]);
  expect(resolver.stats().fileChecks).toBe(distinct);
  time.advance(999);
  await resolver.resolveMany(sleeper.pid!, files);
  expect(resolver.stats().fileChecks).toBe(distinct);
  time.advance(1);
  await resolver.resolveMany(sleeper.pid!, files);
  expect(resolver.stats()).toMatchObject({ fileChecks: 2 * distinct, mapsReads: 2 });
});

test("a batch with anonymous addresses, one call per 250 ms: the maps are read once per fileMaxAgeMs, not every call", async () => {
  const { files, anonymous } = addresses();
  const time = clock();
  const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
  for (let call = 0; call < 12; call++) {
    const answers = await resolver.resolveMany(sleeper.pid!, [...files, ...anonymous]);
    expect(answers.slice(files.length).map((r) => !r.ok && r.reason)).toEqual(anonymous.map(() => "anonymous"));
    time.advance(250);
  }
  // Calls at 0, 250, …, 2750 ms: the first read, then one at 1000 and one at 2000.
  expect(resolver.stats()).toMatchObject({ mapsReads: 3, statReads: 12 });
});

test("an address outside every mapping re-reads the maps at most once per mapsMaxAgeMs", async () => {
  const { files } = addresses();
  const time = clock();
  const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
  for (let call = 0; call < 10; call++) {
    const [nowhere] = await resolver.resolveMany(sleeper.pid!, [0x10n, ...files]);
    expect(nowhere).toMatchObject({ ok: false, reason: "no-mapping" });
    time.advance(30);
  }
  // Calls at 0, 30, …, 270 ms: the first read, then re-reads at 120 and 240.
  expect(resolver.stats()).toMatchObject({ mapsReads: 3, refreshes: 2 });
});
