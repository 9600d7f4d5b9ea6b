// A process that unloads one library and loads another over part of its old range (dlclose and
// dlopen, or mmap with MAP_FIXED), against a long-lived resolver: its answers must never be the
// first library's build ID for the second's address once the view behind them is newer than the
// swap, and must heal past the bounds. Two tiny libraries built here, with distinct build IDs
// (readelf's), so nothing depends on the machine's libraries.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, test } from "vitest";
import type { Resolution } from "../../../src/node/resolver/answers.js";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { CHILD_DEADLINE_MS, killAndReap, type RawMapping, rawMaps, readelfBuildId } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-switch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PAGE = 4096n;
const A = join(dir, "liba.so");
const B = join(dir, "libb.so");
execFileSync("cc", ["-shared", "-fPIC", "-o", A, "-x", "c", "-"], { input: "int fa(int x) { return x + 1; }\n" });
// Three pages of data shift B's segments against A's, so B covers A's old code with other segments.
execFileSync("cc", ["-shared", "-fPIC", "-o", B, "-x", "c", "-"], {
  input: "static volatile char pad[3 * 4096] = {1};\nint fb(int x) { return x * 2 + pad[x & 7]; }\n",
});
const SWITCH = join(dir, "switch");
execFileSync("cc", ["-O1", "-o", SWITCH, new URL("../../fixtures/proc/switch.c", import.meta.url).pathname, "-ldl"]);
const IDS = [readelfBuildId(A)!, readelfBuildId(B)!];

/** What the program had mapped between `before` and the next phase's `after` (ms, CLOCK_MONOTONIC). */
interface Phase {
  before: number;
  after: number;
  ranges: { lib: number; start: bigint; end: bigint }[];
}

/** The resolver's clock and the program's: CLOCK_MONOTONIC, in ms. */
const monotonic = () => Number(process.hrtime.bigint()) / 1e6;

function start(mode: string, ms: number): { child: ChildProcess; phases: Phase[]; next: () => Promise<Phase> } {
  const child = spawn(SWITCH, [mode, String(ms), A, B], { stdio: ["pipe", "pipe", "inherit"] });
  const phases: Phase[] = [];
  const waiting: ((p: Phase) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    const [, before, after, ...ranges] = line.split(" ");
    const phase: Phase = {
      before: Number(before) / 1e6,
      after: Number(after) / 1e6,
      ranges: ranges.map((r) => {
        const [lib, span] = r.split(":");
        const [s, e] = span!.split("-");
        return { lib: Number(lib), start: BigInt(`0x${s}`), end: BigInt(`0x${e}`) };
      }),
    };
    phases.push(phase);
    waiting.shift()?.(phase);
  });
  let read = 0;
  const next = () =>
    new Promise<Phase>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${mode}: no phase within ${CHILD_DEADLINE_MS} ms`)),
        CHILD_DEADLINE_MS,
      );
      const done = (p: Phase) => {
        clearTimeout(timer);
        resolve(p);
      };
      if (read < phases.length) done(phases[read++]!);
      else
        waiting.push((p) => {
          read++;
          done(p);
        });
    });
  return { child, phases, next };
}

/** Two addresses in each page of `ranges` of library `lib` (every library when omitted). */
function pages(phase: Phase, lib?: number): bigint[] {
  const out: bigint[] = [];
  for (const r of phase.ranges)
    if (lib === undefined || r.lib === lib) for (let p = r.start; p < r.end; p += PAGE) out.push(p + 0x10n, p + 0xff8n);
  return out;
}

function holder(phase: Phase, address: bigint): number | undefined {
  return phase.ranges.find((r) => r.start <= address && address < r.end)?.lib;
}

for (const mode of ["dl", "fixed"]) {
  describe(`${mode === "dl" ? "dlclose + dlopen" : "mmap(MAP_FIXED)"} of another library over part of the first`, () => {
    test("past the bounds the new library's build ID is answered, and stays so", async () => {
      const { child, next } = start(mode, 0);
      try {
        const first = await next();
        const before = rawMaps(child.pid!);
        let t = 1_000_000;
        const resolver = await BuildIdResolver.create({ now: () => t });
        const inA = pages(first, 0);
        for (const r of await resolver.resolveMany(child.pid!, inA))
          expect(r).toMatchObject({ ok: true, buildId: IDS[0] });
        child.stdin!.write("\n");
        await next();
        // B's addresses now, whose mapping of A had a range no mapping has now: its map_files entry is
        // gone (where B happens to reuse one of A's exact ranges, the entry names B, which is told apart anyway).
        const after = rawMaps(child.pid!);
        const at = (maps: RawMapping[], a: bigint) => maps.find((m) => m.start <= a && a < m.end);
        const overlap = inA.filter((a) => {
          const old = at(before, a)!;
          return at(after, a)?.path === B && !after.some((m) => m.start === old.start && m.end === old.end);
        });
        console.info(`${mode}: ${overlap.length} of A's ${inA.length} sampled addresses are B's, in ranges gone`);
        if (mode === "fixed") expect(overlap.length).toBeGreaterThan(0);
        for (let round = 0; round < 5; round++) {
          t += 1000;
          const answers = await resolver.resolveMany(child.pid!, overlap);
          answers.forEach((r, i) => {
            expect(r, `round ${round}, 0x${overlap[i]!.toString(16)}`).toMatchObject({ ok: true, buildId: IDS[1] });
          });
        }
      } finally {
        await killAndReap(child);
      }
    });

    test("while it swaps every few ms: no answer names a library that was not there since its view", async () => {
      const fileMaxAgeMs = 10;
      const { child, phases, next } = start(mode, 7);
      const calls: { start: number; end: number; addresses: bigint[]; answers: Resolution[] }[] = [];
      try {
        const first = await next();
        const second = await next();
        const addresses = [...new Set([...pages(first), ...pages(second)])];
        const resolver = await BuildIdResolver.create({ now: monotonic, mapsMaxAgeMs: 2, fileMaxAgeMs });
        // At least 1.5 s, and on until each library has been answered: at load 24, 1.5 s held 2 calls.
        const until = monotonic() + 1500;
        const deadline = monotonic() + 4 * CHILD_DEADLINE_MS;
        const answered = new Set<string>();
        while (monotonic() < until || (answered.size < IDS.length && monotonic() < deadline)) {
          const callStart = monotonic();
          const answers = await resolver.resolveMany(child.pid!, addresses);
          calls.push({ start: callStart, end: monotonic(), addresses, answers });
          for (const r of answers) if (r.ok && IDS.includes(r.buildId)) answered.add(r.buildId);
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        await killAndReap(child);
      }
      // Phase k's ranges may show from its `before` to the next phase's `after`.
      const heldBetween = (lib: number, address: bigint, from: number, to: number) =>
        phases.some(
          (p, k) =>
            p.before <= to && (phases[k + 1]?.after ?? Number.POSITIVE_INFINITY) >= from && holder(p, address) === lib,
        );
      const counts = { ok: [0, 0], wrong: 0, tooOld: 0, reasons: {} as Record<string, number> };
      const wrong: string[] = [];
      for (const call of calls) {
        call.answers.forEach((r, i) => {
          if (!r.ok) {
            counts.reasons[r.reason] = (counts.reasons[r.reason] ?? 0) + 1;
            return;
          }
          const lib = IDS.indexOf(r.buildId);
          const since = r.verifiedAt ?? call.start;
          if (!(since >= call.start - fileMaxAgeMs)) counts.tooOld++;
          if (lib >= 0 && heldBetween(lib, call.addresses[i]!, since, call.end)) {
            counts.ok[lib]!++;
            return;
          }
          counts.wrong++;
          if (wrong.length < 5)
            wrong.push(`0x${call.addresses[i]!.toString(16)}: ${r.buildId} seen ${since}..${call.end}`);
        });
      }
      console.info(`${mode}: ${calls.length} calls over ${phases.length} phases: ${JSON.stringify(counts)}`);
      expect(wrong).toEqual([]);
      expect(counts.tooOld).toBe(0);
      expect(Object.keys(counts.reasons).filter((r) => !["no-mapping", "changed", "anonymous"].includes(r))).toEqual(
        [],
      );
      expect(counts.ok[0]).toBeGreaterThan(0);
      expect(counts.ok[1]).toBeGreaterThan(0);
    });
  });
}
