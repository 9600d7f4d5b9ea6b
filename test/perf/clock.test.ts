// The CLOCKID and CLOCK_DATA features (`perf record -k`), against perf itself: recordings made here with
// -k mono and -k realtime, in file and pipe mode, read whole and as chunks, give the clock perf prints in
// `perf report --header-only`, and every sample placed in real time as `perf script -F tod` places it.
// The big-endian twin of a file (features rewritten) is checked against what perf reads from it too;
// hostile sizes and versions are the reader's typed errors at the feature's offset.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Profile } from "pprof-format";
import { afterAll, describe, expect, test } from "vitest";
import { convertPerfData } from "../../src/convert/index.js";
import { Feature, RecordType } from "../../src/perf/constants.js";
import { type PerfClock, realtimeOf, timesOnClock } from "../../src/perf/header.js";
import { PerfDataError, readPerfData, type SampleRecord, streamPerfData } from "../../src/perf/index.js";
import type { PerfSession } from "../../src/perf/reader.js";
import { swapToBigEndian } from "../helpers/perf-swap.js";
import { perfCannotRecord } from "../helpers/perf-tools.js";
import { attrRecord, PIPE_HEADER, pipeStream, record, u64le } from "../helpers/perf-writer.js";
import { thrownBy as thrown } from "../helpers/thrown.js";

const dir = mkdtempSync(join(tmpdir(), "bic-clock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping the perf clock tests: ${cannot}`);
const noGo = spawnSync("go", ["version"]).status === 0 ? undefined : "no go toolchain";

// perf formats `tod` and the reference time in local time: pin it.
const ENV = { ...process.env, TZ: "UTC" };
const WORK = ["sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"];

function perf(args: string[]): string {
  const run = spawnSync("perf", args, { encoding: "utf8", env: ENV, maxBuffer: 256 << 20, timeout: 120_000 });
  if (run.status !== 0) throw new Error(`perf ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

function recordTo(out: string, clock: string, pipe: boolean, extra: string[] = []): void {
  const args = ["record", "-q", "-e", "cpu-clock", "-F", "2000", "-k", clock, ...extra];
  if (!pipe) {
    perf([...args, "-o", out, "--", ...WORK]);
    return;
  }
  const run = spawnSync("sh", ["-c", `exec "$@" > '${out}'`, "sh", "perf", ...args, "-o", "-", "--", ...WORK], {
    encoding: "utf8",
    env: ENV,
    timeout: 120_000,
  });
  if (run.status !== 0) throw new Error(`perf record -o - failed: ${run.stderr}`);
}

const recordings = new Map<string, string>();
/** A recording with `-k clock` (none when undefined), made once for every test that reads one like it. */
function recorded(clock: string | undefined, pipe: boolean): string {
  const name = `${clock ?? "plain"}-${pipe ? "pipe" : "file"}`;
  let file = recordings.get(name);
  if (file === undefined) {
    file = join(dir, `${name}.data`);
    if (clock === undefined) perf(["record", "-q", "-e", "cpu-clock", "-o", file, "--", ...WORK]);
    else recordTo(file, clock, pipe);
    recordings.set(name, file);
  }
  return file;
}

/** What `perf report --header-only` says of the clock: its id, reference times and resolution. */
function perfClock(file: string): { clock: PerfClock; resolutionNs: bigint } | undefined {
  const text = perf(["report", "--header-only", "-i", file]);
  const id = /^# clockid: \S+ \((\d+)\)$/m.exec(text);
  const ref = /^# reference time: .* = (\d+)\.(\d{6}) \(TOD\) = (\d+)\.(\d{9}) \(/m.exec(text);
  const freq = /^# clockid frequency: (\d+) MHz$/m.exec(text);
  if (!id || !ref || !freq) return undefined;
  return {
    clock: {
      clockid: Number(id[1]),
      realtimeNs: BigInt(ref[1]!) * 1_000_000_000n + BigInt(ref[2]!) * 1000n,
      clockNs: BigInt(ref[3]!) * 1_000_000_000n + BigInt(ref[4]!),
    },
    // perf prints clockid_res_ns * 1000 as "MHz".
    resolutionNs: BigInt(freq[1]!) / 1000n,
  };
}

/** perf's `time` and `tod` of every sample, in perf's order: "S.NNNNNNNNN YYYY-MM-DD HH:MM:SS.NNNNNNNNN". */
function perfSampleTimes(file: string): string[] {
  return perf(["script", "-i", file, "-F", "time,tod", "--ns"])
    .split("\n")
    .map((line) => /^(\S+ \S+)\s+(\d+\.\d{9}):/.exec(line.trim()))
    .filter((m) => m !== null)
    .map((m) => `${m[2]} ${m[1]}`);
}

const nine = (n: bigint) => n.toString().padStart(9, "0");
const secs = (ns: bigint) => `${ns / 1_000_000_000n}.${nine(ns % 1_000_000_000n)}`;
function tod(ns: bigint): string {
  const date = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19).replace("T", " ");
  return `${date}.${nine(ns % 1_000_000_000n)}`;
}

/** Our `time` and `tod` of every sample, as perf prints them, and the session. */
async function ourSampleTimes(bytes: Uint8Array, chunked: boolean): Promise<{ lines: string[]; session: PerfSession }> {
  const samples: SampleRecord[] = [];
  let session: PerfSession;
  if (chunked) {
    const chunks = function* () {
      for (let at = 0; at < bytes.length; at += 4093) yield bytes.slice(at, at + 4093);
    };
    const stream = streamPerfData(chunks());
    for await (const r of stream.records()) if (r.kind === "sample") samples.push(r);
    session = stream.session!;
  } else {
    const data = readPerfData(bytes);
    for (const r of data.records()) if (r.kind === "sample") samples.push(r);
    session = data.session;
  }
  const clock = session.clock!;
  const lines = samples.map((s) => `${secs(s.time!)} ${tod(realtimeOf(clock, s.time!))}`);
  return { lines, session };
}

describe.skipIf(cannot !== undefined)("perf record -k: the clock of a recording", () => {
  for (const clock of ["mono", "realtime"])
    for (const pipe of [false, true])
      test(`-k ${clock}, ${pipe ? "pipe" : "file"} mode: perf's clock and every sample's time of day`, async () => {
        const file = recorded(clock, pipe);
        const expected = perfClock(file);
        expect(expected, "perf report --header-only names a clock").toBeDefined();
        const perfTimes = perfSampleTimes(file);
        expect(perfTimes.length).toBeGreaterThan(0);
        const bytes = new Uint8Array(readFileSync(file));
        for (const chunked of [false, true]) {
          const { lines, session } = await ourSampleTimes(bytes, chunked);
          expect(session.clock).toEqual(expected!.clock);
          expect(session.clockResolutionNs).toBe(expected!.resolutionNs);
          expect(timesOnClock(session.attrs, session.clock!)).toBe(true);
          // perf script delivers in time order; the file holds samples in ring-buffer order.
          expect([...lines].sort()).toEqual([...perfTimes].sort());
          // The reference is read before any event is opened: no sample is older (the proof pprof uses).
          const first = lines.map((l) => l.split(" ")[0]!).sort()[0]!;
          expect(BigInt(first.replace(".", ""))).toBeGreaterThan(session.clock!.clockNs);
        }
      });

  test("pprof's time_nanos is the first sample's time of day, as perf script -F tod prints it (go tool pprof reads it)", async () => {
    for (const [clock, pipe] of [
      ["mono", false],
      ["realtime", true],
    ] as const) {
      const file = recorded(clock, pipe);
      const first = perfSampleTimes(file).sort()[0]!;
      const { profile } = await convertPerfData(new Uint8Array(readFileSync(file)));
      const ns = BigInt(Profile.decode(profile).timeNanos);
      expect(`${secs(ns)} ${tod(ns)}`.split(" ").slice(1).join(" "), `-k ${clock}`).toBe(
        first.split(" ").slice(1).join(" "),
      );
      if (noGo) continue;
      const pb = join(dir, `tod-${clock}.pb`);
      writeFileSync(pb, profile);
      const raw = spawnSync("go", ["tool", "pprof", "-raw", pb], { encoding: "utf8", env: ENV, timeout: 120_000 });
      expect(raw.status, raw.stderr).toBe(0);
      // Go prints time.Unix(0, TimeNanos) with its nanoseconds, trailing zeros dropped.
      const go = /^Time: (\S+ \S+) \+0000 UTC$/m.exec(raw.stdout)?.[1];
      expect(go, raw.stdout.slice(0, 300)).toBe(tod(ns).replace(/\.?0+$/, ""));
    }
  });

  test("without -k: no time_nanos, as perf has no time of day for a sample", async () => {
    const file = recorded(undefined, false);
    const { profile, summary } = await convertPerfData(new Uint8Array(readFileSync(file)));
    expect(summary.samples).toBeGreaterThan(0);
    expect(BigInt(Profile.decode(profile).timeNanos)).toBe(0n);
    const run = spawnSync("perf", ["script", "-i", file, "-F", "tod"], { encoding: "utf8", env: ENV });
    expect(`${run.stdout}${run.stderr}`).toMatch(/missing clock data/);
  });

  test("without -k: no clock, as perf reports none", async () => {
    const file = recorded(undefined, false);
    expect(perfClock(file)).toBeUndefined();
    const data = readPerfData(new Uint8Array(readFileSync(file)));
    expect(data.session.clock).toBeUndefined();
    expect(data.session.clockResolutionNs).toBeUndefined();
    expect(data.session.attrs.every((a) => !a.useClockid)).toBe(true);
  });

  test("the big-endian twin of a -k mono file: the clock perf reads from it", () => {
    const file = recorded("mono", false);
    const le = new Uint8Array(readFileSync(file));
    const expected = readPerfData(le).session;
    // perf takes a swapped file's feature bits as 64-bit words only when HOSTNAME is among them.
    const hostname = [0, 0, 0, 8, ...[..."bic"].map((c) => c.charCodeAt(0)), 0, 0, 0, 0, 0];
    const be = withFeaturesBigEndian(swapToBigEndian(le), [
      [HOSTNAME, new Uint8Array(hostname)],
      [Feature.CLOCKID, beU64(expected.clockResolutionNs!)],
      [Feature.CLOCK_DATA, clockPayload(expected.clock!, false)],
    ]);
    const twin = join(dir, "mono-be.data");
    writeFileSync(twin, be);
    expect(perfClock(twin)).toEqual({ clock: expected.clock, resolutionNs: expected.clockResolutionNs });
    const session = readPerfData(be).session;
    expect(session.littleEndian).toBe(false);
    expect(session.clock).toEqual(expected.clock);
    expect(session.clockResolutionNs).toBe(expected.clockResolutionNs);
    expect(timesOnClock(session.attrs, session.clock!)).toBe(true);
  });
});

const HOSTNAME = 3;
const REF: PerfClock = { clockid: 1, realtimeNs: 1_796_492_282_218_330_000n, clockNs: 34_632_171_593_270n };

function clockPayload(clock: PerfClock, le: boolean, version = 1): Uint8Array {
  const out = new Uint8Array(24);
  const view = new DataView(out.buffer);
  view.setUint32(0, version, le);
  view.setUint32(4, clock.clockid, le);
  view.setBigUint64(8, clock.realtimeNs, le);
  view.setBigUint64(16, clock.clockNs, le);
  return out;
}

function beU64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value, false);
  return out;
}

/** A big-endian file-mode perf.data with `features` added to its own (the table rewritten in bit order). */
function withFeaturesBigEndian(file: Uint8Array, features: [number, Uint8Array][]): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const dataEnd = Number(view.getBigUint64(40, false) + view.getBigUint64(48, false));
  const bits: number[] = [];
  for (let word = 0; word < 4; word++)
    for (let bit = 0; bit < 64; bit++)
      if ((view.getBigUint64(72 + 8 * word, false) >> BigInt(bit)) & 1n) bits.push(64 * word + bit);
  const old = bits.map((_, i) => ({
    offset: Number(view.getBigUint64(dataEnd + 16 * i, false)),
    size: Number(view.getBigUint64(dataEnd + 16 * i + 8, false)),
  }));
  const entries: [number, Uint8Array][] = [
    ...bits.map((bit, i): [number, Uint8Array] => [bit, file.slice(old[i]!.offset, old[i]!.offset + old[i]!.size)]),
    ...features,
  ].sort((a, b) => a[0] - b[0]);
  const payloads = entries.map(([, p]) => p);
  const all = entries.map(([bit]) => bit);
  const tableSize = 16 * all.length;
  const out = new Uint8Array(dataEnd + tableSize + payloads.reduce((n, p) => n + p.length, 0));
  out.set(file.subarray(0, dataEnd));
  const o = new DataView(out.buffer);
  for (let word = 0; word < 4; word++) {
    let v = 0n;
    for (const bit of all) if (bit >> 6 === word) v |= 1n << BigInt(bit & 63);
    o.setBigUint64(72 + 8 * word, v, false);
  }
  let at = dataEnd + tableSize;
  payloads.forEach((p, i) => {
    o.setBigUint64(dataEnd + 16 * i, BigInt(at), false);
    o.setBigUint64(dataEnd + 16 * i + 8, BigInt(p.length), false);
    out.set(p, at);
    at += p.length;
  });
  return out;
}

const feature = (bit: number, payload: Uint8Array | number[]) =>
  record(RecordType.HEADER_FEATURE, [...u64le(BigInt(bit)), ...payload]);

describe("CLOCK_DATA and CLOCKID as perf writes them, and hostile ones", () => {
  test("pipe mode, both byte orders: the HEADER_FEATURE records give the clock", () => {
    const le = pipeStream(attrRecord(0x107n), feature(Feature.CLOCK_DATA, clockPayload(REF, true)));
    const read = readPerfData(le);
    expect(read.session.clock, "known once the feature record is read").toBeUndefined();
    [...read.rawRecords()];
    expect(read.session.clock).toEqual(REF);
    const beBytes = new Uint8Array([
      ...[..."2ELIFREP"].map((c) => c.charCodeAt(0)),
      ...beU64(16n),
      // A HEADER_FEATURE record, big-endian: type 80, misc 0, size 8 + 8 + 24.
      ...[0, 0, 0, 80, 0, 0, 0, 40],
      ...beU64(BigInt(Feature.CLOCK_DATA)),
      ...clockPayload(REF, false),
      ...[0, 0, 0, 80, 0, 0, 0, 24],
      ...beU64(BigInt(Feature.CLOCKID)),
      ...beU64(1n),
    ]);
    const data = readPerfData(beBytes);
    [...data.rawRecords()];
    expect(data.session.clock).toEqual(REF);
    expect(data.session.clockResolutionNs).toBe(1n);
  });

  test("PF15 a CLOCK_DATA or CLOCKID payload shorter than its fields: TRUNCATED at the payload", () => {
    const at = PIPE_HEADER.length + 16;
    for (const [bit, payload, what] of [
      [Feature.CLOCK_DATA, clockPayload(REF, true).subarray(0, 23), "CLOCK_DATA feature has 23 bytes"],
      [Feature.CLOCKID, new Uint8Array([1, 0, 0, 0]), "CLOCKID feature has 4 bytes"],
    ] as const) {
      const bytes = pipeStream(feature(bit, payload));
      const error = thrown(() => [...readPerfData(bytes).rawRecords()]);
      expect(error).toBeInstanceOf(PerfDataError);
      expect(error).toMatchObject({ code: "TRUNCATED", offset: at });
      expect((error as Error).message).toContain(what);
    }
  });

  test("PF15 a CLOCK_DATA version other than 1: UNSUPPORTED, naming it", () => {
    const bytes = pipeStream(feature(Feature.CLOCK_DATA, clockPayload(REF, true, 2)));
    const error = thrown(() => [...readPerfData(bytes).rawRecords()]);
    expect(error).toMatchObject({ code: "UNSUPPORTED", offset: PIPE_HEADER.length + 16 });
    expect((error as Error).message).toMatch(/CLOCK_DATA version 2; this reader reads version 1/);
  });

  test.skipIf(cannot !== undefined)(
    "PF15 file mode: a CLOCK_DATA section cut to 8 bytes is TRUNCATED at its offset, read whole or streamed",
    async () => {
      const bytes = new Uint8Array(readFileSync(recorded("mono", false)));
      const view = new DataView(bytes.buffer);
      const dataEnd = Number(view.getBigUint64(40, true) + view.getBigUint64(48, true));
      const features = readPerfData(bytes).session.features;
      const slot = dataEnd + 16 * features.indexOf(Feature.CLOCK_DATA);
      view.setBigUint64(slot + 8, 8n, true);
      const offset = Number(view.getBigUint64(slot, true));
      const whole = thrown(() => readPerfData(bytes));
      expect(whole).toMatchObject({ code: "TRUNCATED", offset });
      const streamed = await (async () => {
        try {
          for await (const _ of streamPerfData([bytes]).rawBatches());
        } catch (error) {
          return error;
        }
      })();
      expect(streamed).toMatchObject({ code: "TRUNCATED", offset });
    },
  );
});
