// The pprof input side (annotateProfile, decodeProfile) on mutated profiles: a generated profile with
// mappings, locations, functions and samples, then byte edits, cuts and appended fields. The answer is an
// annotation or a ProfileFormatError; an annotation's bytes decode again, each mapping keeps its own
// build ID or gets its own file's, and annotating them again fills nothing. FUZZ_RUNS and PPROF_FUZZ_SEED set the campaign.
import fc from "fast-check";
import { Line, Location, Mapping, Function as PFunction, Profile, Sample, StringTable, ValueType } from "pprof-format";
import { describe, expect, test } from "vitest";
import { annotateProfile, decodeProfile, ProfileFormatError } from "../../src/pprof.js";
import { seedFrom } from "../helpers/random.js";

const FILES = ["/bin/a", "/lib/b.so", "", "[vdso]", "/lib/c.so"];
/** The build ID the lookup answers for a file: a hash of its name, so a mapping given another file's can be told. */
const idOf = (name: string) =>
  [...name]
    .reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7)
    .toString(16)
    .padStart(8, "0");

const mapping = fc.record({
  // an id that lies (0, repeated, past 2^53) now and then; its place in the list otherwise
  id: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 2 ** 53, 2 ** 64 - 1) },
  ),
  file: fc.nat(FILES.length - 1),
  start: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  length: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  offset: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  buildId: fc.option(fc.constantFrom("", "abcd", "not hex")),
});

const profile = fc.record({
  mappings: fc.array(mapping, { maxLength: 6 }),
  locations: fc.array(
    fc.record({
      mapping: fc.nat(),
      address: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fn: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 6 },
  ),
  samples: fc.array(
    fc.record({ locations: fc.array(fc.nat(), { maxLength: 4 }), value: fc.integer({ min: -5, max: 1000 }) }),
    { maxLength: 6 },
  ),
});

/** The encoded profile `p` describes: references point where they can, ids lie where `p` says. */
function encode(p: typeof profile extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  const strings = new StringTable();
  const locations = p.locations.length;
  return new Profile({
    sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") })],
    stringTable: strings,
    mapping: p.mappings.map(
      (m, i) =>
        new Mapping({
          id: BigInt(m.id ?? i + 1),
          memoryStart: m.start,
          memoryLimit: (m.start + m.length) % 2n ** 64n,
          fileOffset: m.offset,
          filename: strings.dedup(FILES[m.file]!),
          buildId: m.buildId === null ? 0 : strings.dedup(m.buildId),
        }),
    ),
    function: [1, 2, 3].map((id) => new PFunction({ id, name: strings.dedup(`f${id}`) })),
    location: p.locations.map(
      (l, i) =>
        new Location({
          id: i + 1,
          mappingId: l.mapping % (p.mappings.length + 1),
          address: l.address,
          line: l.fn ? [new Line({ functionId: l.fn })] : [],
        }),
    ),
    sample: p.samples
      .filter(() => locations > 0)
      .map((s) => new Sample({ locationId: s.locations.map((l) => (l % locations) + 1), value: [s.value] })),
  }).encode();
}

const damage = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "none" as const }) },
  fc.record({
    kind: fc.constant("edit" as const),
    edits: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ maxLength: 24 }) }),
);

function damaged(bytes: Uint8Array, d: typeof damage extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  switch (d.kind) {
    case "none":
      return bytes;
    case "edit": {
      const out = bytes.slice();
      for (const [at, v] of d.edits) if (out.length > 0) out[at % out.length] = v;
      return out;
    }
    case "cut":
      return bytes.subarray(0, d.at % (bytes.length + 1));
    case "append":
      return new Uint8Array([...bytes, ...d.bytes]);
  }
}

describe("pprof input, mutated", () => {
  test(
    "annotateProfile: an annotation that decodes again, each mapping with its own file's ID, or a ProfileFormatError",
    async () => {
      const seed = seedFrom("PPROF_FUZZ_SEED", "mutated profiles");
      const outcomes = { annotated: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(profile, damage, async (p, d) => {
          const bytes = damaged(encode(p), d);
          let result: Awaited<ReturnType<typeof annotateProfile>>;
          try {
            result = await annotateProfile(bytes, (m) =>
              m.filename === "" ? { reason: "no name" } : idOf(m.filename),
            );
          } catch (error) {
            expect(error, String(error)).toBeInstanceOf(ProfileFormatError);
            outcomes.refused++;
            return;
          }
          outcomes.annotated++;
          for (const f of result.filled) expect(f.buildId).toBe(idOf(f.filename));
          const out = decodeProfile(result.bytes);
          const before = decodeProfile(bytes);
          const s = out.stringTable.strings;
          const s0 = before.stringTable.strings;
          expect(out.mapping.length).toBe(before.mapping.length);
          out.mapping.forEach((m, i) => {
            const was = s0[Number(before.mapping[i]!.buildId)] ?? "";
            const file = s[Number(m.filename)] ?? "";
            expect(file).toBe(s0[Number(before.mapping[i]!.filename)] ?? "");
            expect([was, file === "" ? "" : idOf(file)]).toContain(s[Number(m.buildId)] ?? "");
          });
          const again = await annotateProfile(result.bytes, (m) =>
            m.filename === "" ? { reason: "no name" } : idOf(m.filename),
          );
          expect(again.filled).toEqual([]);
        }),
        { seed, numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
      );
      console.log(`mutated profiles: ${outcomes.annotated} annotated, ${outcomes.refused} refused`);
    },
    600_000 + Number(process.env.FUZZ_RUNS ?? 0) * 20,
  );
});
