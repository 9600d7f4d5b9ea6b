import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { build } from "esbuild";
import {
  Label,
  Line,
  Location,
  Mapping,
  Function as PprofFunction,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "pprof-format";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { annotateProfileFile, DEFAULT_PROFILE_LIMIT, readProfileFile } from "../../src/node/pprof-file.js";
import { BuildIdResolver } from "../../src/node/resolver/resolver.js";
import { annotateProfile, isGzip, ProfileFormatError } from "../../src/pprof.js";
import { bundleCli, profileOf, runCli } from "../helpers/cli.js";
import { killAndReap, rawMaps, readelfBuildId, SLEEP, spawnMapping } from "./live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-pprof-"));
let sleeper: Awaited<ReturnType<typeof spawnMapping>>;
beforeAll(async () => {
  sleeper = await spawnMapping(SLEEP, ["infinity"], SLEEP);
});
afterAll(async () => {
  await killAndReap(sleeper);
  rmSync(dir, { recursive: true, force: true });
});

// A profile of the live process: one mapping per executable file mapping, a location and a sample
// in each, plus a mapping that already has a build ID, a [vdso] and a file that does not exist.
function liveProfile(pid: number) {
  const strings = new StringTable();
  const exec = rawMaps(pid).filter((m) => m.perms[2] === "x" && (m.path.startsWith("/") || m.path === "[vdso]"));
  const rows = [
    ...exec.map((m) => ({ start: m.start, limit: m.end, offset: m.offset, path: m.path, buildId: "" })),
    { start: 0x1000n, limit: 0x2000n, offset: 0n, path: "/opt/preset.so", buildId: "0123456789abcdef" },
    { start: 0x3000n, limit: 0x4000n, offset: 0n, path: join(dir, "absent.so"), buildId: "" },
  ];
  const profile = new Profile({
    sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") })],
    stringTable: strings,
    mapping: rows.map(
      (r, i) =>
        new Mapping({
          id: i + 1,
          memoryStart: r.start,
          memoryLimit: r.limit,
          fileOffset: r.offset,
          filename: strings.dedup(r.path),
          buildId: strings.dedup(r.buildId),
          hasFunctions: true,
        }),
    ),
    function: [new PprofFunction({ id: 1, name: strings.dedup("main"), systemName: strings.dedup("main") })],
    location: rows.map((r, i) => new Location({ id: i + 1, mappingId: i + 1, address: r.start + 8n })),
    sample: rows.map((_, i) => new Sample({ locationId: [i + 1], value: [i + 10] })),
  });
  return { bytes: profile.encode(), rows };
}

function buildIdsOf(bytes: Uint8Array): Map<string, string> {
  const p = Profile.decode(bytes);
  return new Map(
    p.mapping.map((m) => [p.stringTable.strings[Number(m.filename)]!, p.stringTable.strings[Number(m.buildId)]!]),
  );
}

for (const how of ["by path", "through the live process"] as const) {
  test(`a gzip profile of a live process is annotated ${how}; its build IDs agree with readelf`, async () => {
    const { bytes, rows } = liveProfile(sleeper.pid!);
    const input = join(dir, `in-${how}.pb.gz`);
    const output = join(dir, `out-${how}.pb.gz`);
    writeFileSync(input, gzipSync(bytes));
    const resolver = await BuildIdResolver.create();
    const report = await annotateProfileFile(input, output, resolver, how === "by path" ? {} : { pid: sleeper.pid! });
    const files = [...new Set(rows.filter((r) => r.path.startsWith("/") && r.buildId === "").map((r) => r.path))];
    const readable = files.filter((f) => !f.endsWith("absent.so"));
    // Through the live process the vdso resolves too (issue 15), read from memory.
    const live = how !== "by path";
    expect(new Set(report.filled.map((m) => m.filename))).toEqual(new Set(live ? [...readable, "[vdso]"] : readable));
    expect(report.alreadySet).toBe(1);
    expect(report.skipped.map((m) => m.filename).sort()).toEqual(
      (live ? [join(dir, "absent.so")] : ["[vdso]", join(dir, "absent.so")]).sort(),
    );
    expect(report.skipped.find((m) => m.filename.endsWith("absent.so"))!.reason).toContain("missing");
    // By path, every build ID came from the file at its path now, and the report says so.
    expect(report.filledByPath).toEqual(live ? [] : report.filled.map((m) => m.id));
    const after = buildIdsOf(gunzipSync(readFileSync(output)));
    for (const f of readable) expect(after.get(f), f).toBe(readelfBuildId(f));
    expect(after.get("/opt/preset.so")).toBe("0123456789abcdef");
    expect(after.get("[vdso]") !== "").toBe(live);
    // Everything but the build IDs decodes to what went in.
    const before = Profile.decode(bytes);
    const annotated = Profile.decode(gunzipSync(readFileSync(output)));
    expect(annotated.sample.map((s) => [s.locationId.map(Number), s.value.map(Number)])).toEqual(
      before.sample.map((s) => [s.locationId.map(Number), s.value.map(Number)]),
    );
    expect(annotated.location.map((l) => [Number(l.mappingId), BigInt(l.address)])).toEqual(
      before.location.map((l) => [Number(l.mappingId), BigInt(l.address)]),
    );
    expect(annotated.mapping.map((m) => [BigInt(m.memoryStart), BigInt(m.memoryLimit), BigInt(m.fileOffset)])).toEqual(
      before.mapping.map((m) => [BigInt(m.memoryStart), BigInt(m.memoryLimit), BigInt(m.fileOffset)]),
    );
  });
}

test("the universal annotator: sync lookups, reasons for skips, and bad input refused by name", async () => {
  const { bytes } = liveProfile(sleeper.pid!);
  const seen: string[] = [];
  const result = await annotateProfile(bytes, (m) => {
    seen.push(m.filename);
    return m.filename === SLEEP ? "ABCDEF" : { reason: "not wanted" };
  });
  expect(seen).not.toContain("/opt/preset.so");
  expect(result.filled).toEqual([{ id: expect.any(BigInt), filename: SLEEP, buildId: "abcdef" }]);
  expect(result.skipped.every((m) => m.reason === "not wanted")).toBe(true);
  expect(buildIdsOf(result.bytes).get(SLEEP)).toBe("abcdef");
  await expect(annotateProfile(gzipSync(bytes), () => undefined)).rejects.toThrow(
    new ProfileFormatError("the profile is gzip-compressed: gunzip it before annotating"),
  );
  await expect(annotateProfile(new Uint8Array([0xff, 0xff, 0xff]), () => undefined)).rejects.toThrow(
    /^not a pprof profile \(3 bytes\)/,
  );
  await expect(annotateProfile(bytes, () => "xyz")).rejects.toThrow(/is not hex: "xyz"/);
});

describe("pprof input is validated, not trusted", () => {
  // A small profile using every message kind, so that cuts land inside each of them.
  function everyKind(): Uint8Array {
    const strings = new StringTable();
    return new Profile({
      sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") })],
      periodType: new ValueType({ type: strings.dedup("cpu"), unit: strings.dedup("nanoseconds") }),
      period: 1000,
      timeNanos: 1_700_000_000_000_000_000n,
      durationNanos: 99,
      stringTable: strings,
      mapping: [
        new Mapping({ id: 1, memoryStart: 0x1000, memoryLimit: 0x2000, filename: strings.dedup("/bin/true") }),
        new Mapping({ id: 2, memoryStart: 0x3000, memoryLimit: 0x4000, filename: strings.dedup("/bin/false") }),
      ],
      function: [new PprofFunction({ id: 1, name: strings.dedup("main"), filename: strings.dedup("main.c") })],
      location: [
        new Location({ id: 1, mappingId: 1, address: 0x1010, line: [new Line({ functionId: 1, line: 3 })] }),
        new Location({ id: 2, mappingId: 2, address: 0x3010 }),
      ],
      sample: [
        new Sample({ locationId: [1, 2], value: [5], label: [new Label({ key: strings.dedup("thread"), num: 7 })] }),
      ],
    }).encode();
  }

  const go = (() => {
    try {
      execFileSync("go", ["version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();
  const goAccepts = (bytes: Uint8Array): boolean => {
    const path = join(dir, "go-cut.pb");
    writeFileSync(path, bytes);
    try {
      execFileSync("go", ["tool", "pprof", "-raw", path], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  const weAccept = async (bytes: Uint8Array): Promise<boolean> =>
    annotateProfile(bytes, () => undefined).then(
      () => true,
      (error) => {
        expect(error).toBeInstanceOf(ProfileFormatError);
        return false;
      },
    );

  test("every cut of an uncompressed profile is refused where Go's pprof refuses it", async () => {
    const bytes = everyKind();
    expect(await weAccept(bytes)).toBe(true);
    const accepted: number[] = [];
    for (let n = 0; n < bytes.length; n++) if (await weAccept(bytes.subarray(0, n))) accepted.push(n);
    // Only cuts between whole top-level fields after the string table can still be a profile.
    expect(accepted.length).toBeLessThan(6);
    if (!go) {
      console.log("go is not installed: cuts not compared with go tool pprof");
      return;
    }
    // Go agrees on every cut we accept and on a seeded sample of those we refuse.
    const seed = Number(process.env.PPROF_CUT_SEED ?? Date.now() % 2 ** 31);
    console.log(`pprof cuts compared with go tool pprof (PPROF_CUT_SEED=${seed})`);
    let r = seed;
    const refused = [...Array(bytes.length).keys()].filter((n) => !accepted.includes(n));
    const sample = Array.from({ length: 24 }, () => {
      r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
      return refused[r % refused.length]!;
    });
    for (const n of accepted) expect(goAccepts(bytes.subarray(0, n)), `seed ${seed}: Go on a cut at ${n}`).toBe(true);
    for (const n of sample) expect(goAccepts(bytes.subarray(0, n)), `seed ${seed}: Go on a cut at ${n}`).toBe(false);
  }, 300_000);

  test("bad wire types and lengths are refused by name before decoding", async () => {
    const refusal = (bytes: number[]) => annotateProfile(new Uint8Array(bytes), () => undefined);
    await expect(refusal([0x0b, 0x00])).rejects.toThrow(
      "not a pprof profile (2 bytes): Profile.sample_type at byte 0: invalid wire type 3",
    );
    await expect(refusal([0x12, 0x7f, 0x08])).rejects.toThrow(
      "not a pprof profile (3 bytes): Profile.sample at byte 0: length 127 runs past the end (1 bytes left)",
    );
    await expect(refusal([0x10, 0x01])).rejects.toThrow(
      "not a pprof profile (2 bytes): Profile.sample at byte 0: wire type 0 does not fit the field",
    );
    await expect(refusal([0x12, 0x02, 0x1a, 0x05, 0x32, 0x00])).rejects.toThrow(
      "not a pprof profile (6 bytes): Sample.label at byte 2: length 5 runs past the end (0 bytes left)",
    );
  });

  test("an empty file and 10 MB of zeros are 'empty input', as Go says", async () => {
    await expect(annotateProfile(new Uint8Array(0), () => undefined)).rejects.toThrow(
      new ProfileFormatError("empty input: no bytes"),
    );
    const zeros = join(dir, "zeros.pb");
    writeFileSync(zeros, new Uint8Array(10_000_000));
    const resolver = await BuildIdResolver.create();
    await expect(annotateProfileFile(zeros, join(dir, "zeros.out.pb"), resolver)).rejects.toThrow(
      new ProfileFormatError(`${zeros}: empty input: 10000000 zero bytes`),
    );
    expect(existsSync(join(dir, "zeros.out.pb"))).toBe(false);
  });

  test("decompression stops at the ceiling: 1 GiB of gzipped zeros is refused with bounded memory", async () => {
    const member = gzipSync(new Uint8Array(1 << 20), { level: 9 });
    const bomb = join(dir, "bomb.pb.gz");
    writeFileSync(bomb, Buffer.concat(Array.from({ length: 1024 }, () => member)));
    const script = join(dir, "read-profile.mjs");
    await build({
      entryPoints: [fileURLToPath(new URL("../helpers/read-profile.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      outfile: script,
      logLevel: "error",
    });
    const child = (...args: string[]) =>
      JSON.parse(execFileSync(process.execPath, [script, bomb, ...args], { encoding: "utf8" })) as {
        error: string;
        maxRssBytes: number;
      };
    const byDefault = child();
    expect(byDefault.error).toBe(
      `${bomb}: decompresses to more than ${DEFAULT_PROFILE_LIMIT} bytes (maxBytes, or --max-profile-bytes, raises the limit)`,
    );
    // The output is bounded by the ceiling, not by the 1 GiB the file holds.
    expect(byDefault.maxRssBytes).toBeLessThan(DEFAULT_PROFILE_LIMIT + 256 * 2 ** 20);
    const small = child(String(2 ** 21));
    expect(small.error).toContain("decompresses to more than 2097152 bytes");
    expect(small.maxRssBytes).toBeLessThan(256 * 2 ** 20);
  }, 120_000);

  test("the ceiling is an option: raised, the same zeros decompress and are then 'empty input'", async () => {
    const zeros = join(dir, "zeros-8m.pb.gz");
    writeFileSync(zeros, gzipSync(new Uint8Array(8 << 20)));
    await expect(readProfileFile(zeros, { maxBytes: 4 << 20 })).rejects.toThrow(/decompresses to more than 4194304/);
    expect((await readProfileFile(zeros, { maxBytes: 16 << 20 })).length).toBe(8 << 20);
  });

  test("annotate without --pid says its build IDs came from the files at the paths now; with it, it has nothing to say", async () => {
    const input = join(dir, "said.pb");
    writeFileSync(input, liveProfile(sleeper.pid!).bytes);
    const cli = await bundleCli(join(dir, "cli-said"));
    const byPath = await runCli(cli, ["annotate", input, "-o", join(dir, "said-1.pb")]);
    expect(byPath.code, byPath.stderr).toBe(0);
    const filled = Number(/(\d+) build IDs filled/.exec(byPath.stdout)![1]);
    expect(byPath.stdout).toContain(
      `buildid-cache: warning: ${filled} build IDs were read from the files at the profile's paths as they are now, which may not be the files the profile was taken from (give --pid PID`,
    );
    const json = await runCli(cli, ["annotate", input, "-o", join(dir, "said-2.pb"), "--json"]);
    const report = JSON.parse(json.stdout);
    expect(report.filledByPath).toEqual(report.filled.map((m: { id: string }) => m.id));
    const live = await runCli(cli, ["annotate", "--pid", String(sleeper.pid), input, "-o", join(dir, "said-3.pb")]);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).not.toContain("warning");
  });

  test("mapping ids past 2^53 print exactly in annotate --json", async () => {
    const input = join(dir, "big-ids.pb");
    const id = 2n ** 53n + 1n;
    writeFileSync(input, profileOf([join(dir, "absent.so")], id));
    const cli = await bundleCli(join(dir, "cli-bundle"));
    const run = await runCli(cli, ["annotate", input, "-o", join(dir, "big-ids.out.pb"), "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).skipped[0].id).toBe("9007199254740993");
  });

  test("one gzip-magic test, used by the Node file reader and the page", () => {
    expect(isGzip(gzipSync(new Uint8Array(1)))).toBe(true);
    expect(isGzip(new Uint8Array([0x1f]))).toBe(false);
    const root = fileURLToPath(new URL("../..", import.meta.url));
    for (const file of ["src/node/pprof-file.ts", "web/profile.ts"]) {
      const source = readFileSync(join(root, file), "utf8");
      expect(source, file).toMatch(/\bisGzip\b/);
      expect(source, file).not.toMatch(/0x8b/i);
    }
  });
});
