import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { Location, Mapping, Function as PprofFunction, Profile, Sample, StringTable, ValueType } from "pprof-format";
import { afterAll, beforeAll, expect, test } from "vitest";
import { annotateProfileFile } from "../../src/node/pprof-file.js";
import { BuildIdResolver } from "../../src/node/resolver.js";
import { annotateProfile, ProfileFormatError } from "../../src/pprof.js";
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
