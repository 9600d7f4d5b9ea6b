// The demo page's perf.data section (section 6) in headless Chromium, on recordings `perf record` makes here,
// checked against perf's own answers (buildid-list with and without -H, report by dso and by pid) and the
// converter run in Node; the conversion runs in a worker, so the page's own thread stays free.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dsoName } from "../../src/convert/build-ids.js";
import { convertPerfData } from "../../src/convert/index.js";
import { FILE_HEADER_SIZE } from "../../src/perf/header.js";
import { readPerfData } from "../../src/perf/index.js";
import { decompressedCopy, perfBuildIdLines, perfSamplesPerDso } from "../helpers/perf-answers.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";
import { attrRecord, CPU_CLOCK_G, PIPE_HEADER, record, sampleBody } from "../helpers/perf-writer.js";
import { mulberry32, seedFrom } from "../helpers/random.js";
import { type DemoPage, openDemoPage, screenshotPath, withUnisolatedPage } from "./harness.js";

/** A parent and a forked child that spin in the program's own code, then an exec of ls: four program runs. */
const SPIN_C = `#include <unistd.h>
#include <sys/wait.h>
static volatile unsigned long sink;
static void spin(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
int main(void) {
  pid_t child = fork();
  spin(child == 0 ? 10000000UL : 20000000UL);
  if (child > 0) waitpid(child, 0, 0);
  return 0;
}
`;

const CASES = [
  { name: "file mode", args: [], pipe: false },
  { name: "file mode, -z, --buildid-mmap", args: ["-z", "--buildid-mmap"], pipe: false },
  { name: "pipe mode", args: [], pipe: true },
  { name: "pipe mode, -z, --buildid-mmap", args: ["-z", "--buildid-mmap"], pipe: true },
];

/** The kernel's text map is `[kernel.kallsyms]_text` in the converter's output, `[kernel.kallsyms]` in perf's. */
const asPerf = (path: string): string => dsoName(path, path.startsWith("[kernel.kallsyms]") ? -1 : 0);

/** Samples per `pid:comm` as `perf report --sort pid,comm` counts them (comm as it was at each sample). */
function perfSamplesPerRun(file: string): Map<string, number> {
  const run = spawnSync(
    "perf",
    ["report", "--no-children", "--sort", "pid,comm", "--stdio", "-n", "-g", "none", "-i", file],
    { encoding: "utf8", maxBuffer: 1 << 28, timeout: 600_000 },
  );
  if (run.status !== 0) throw new Error(`perf report --sort pid,comm failed: ${run.stderr}`);
  const counts = new Map<string, number>();
  for (const line of run.stdout.split("\n")) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+(\d+):\S*\s+(\S.*?)\s*$/.exec(line);
    if (m) counts.set(`${m[2]}:${m[3]}`, (counts.get(`${m[2]}:${m[3]}`) ?? 0) + Number(m[1]));
  }
  return counts;
}

/** One process of the page's table, as the page shows it. */
interface ShownProcess {
  pid: number;
  comm: string;
  files: { path: string; buildId: string; samples: number }[];
  unresolved: { reason: string; samples: number }[];
}

/** What a recording looks like in the page's table: its processes, their files and unresolved samples. */
function shownProcesses(page: Page): Promise<ShownProcess[]> {
  return page.locator("#perf-table tbody").evaluateAll((bodies) =>
    bodies.map((body) => {
      const { pid, comm } = (body as HTMLElement).dataset;
      const samples = (tr: Element) => Number((tr.querySelector(".samples") as HTMLElement).dataset.samples);
      return {
        pid: Number(pid),
        comm: comm ?? "",
        files: [...body.querySelectorAll("tr.file")].map((tr) => ({
          path: (tr as HTMLElement).dataset.path ?? "",
          buildId: tr.querySelector(".build-id code")?.textContent ?? "",
          samples: samples(tr),
        })),
        unresolved: [...body.querySelectorAll("tr.unresolved")].map((tr) => ({
          reason: (tr as HTMLElement).dataset.reason ?? "",
          samples: samples(tr),
        })),
      };
    }),
  );
}

/** The page's list of every file perf buildid-list names: `<id padded to 40> <name>` and the samples beside it. */
function shownListed(page: Page): Promise<{ line: string; name: string; samples: number }[]> {
  return page.locator("#perf-ids tbody tr").evaluateAll((rows) =>
    rows.map((tr) => {
      const { path, buildId } = (tr as HTMLElement).dataset;
      return {
        line: `${(buildId ?? "").padEnd(40)} ${path}`.trim(),
        name: path ?? "",
        samples: Number((tr.querySelector(".samples") as HTMLElement).dataset.samples),
      };
    }),
  );
}

/** What the page says about a refused file: the error box's name, code and offset. */
async function shownError(page: Page): Promise<{ name?: string; code?: string; offset?: string }> {
  const box = page.locator("#perf-error");
  await box.waitFor({ state: "visible" });
  return box.evaluate((node) => ({ ...(node as HTMLElement).dataset }));
}

/** Section 6 of `page`, for screenshots. */
const section = (page: Page) => page.locator('section[aria-labelledby="perf-heading"]');

/** Chooses `path` in section 6 and waits until the page has finished with it (read or refused). */
async function choose(page: Page, path: string): Promise<void> {
  await page.locator("#perf-input").setInputFiles(path);
  const name = basename(path);
  await expect
    .poll(() => page.locator("#perf-status").textContent(), { timeout: 120_000 })
    .toMatch(new RegExp(`^${name.replace(/\W/g, "\\$&")}(:| \\()`));
}

/**
 * A pipe-mode recording of `samples` samples (`cpu-clock -g` layout) with call chains from a few hundred
 * stacks, a FINISHED_ROUND every 1,000 samples: a large input the converter has real work on.
 */
function synthesizedRecording(next: () => number, samples: number): Uint8Array {
  const stacks = Array.from({ length: 300 }, () =>
    Array.from({ length: 4 + Math.floor(next() * 12) }, () => 0x400000n + BigInt(Math.floor(next() * 0x10000))),
  );
  const parts: Uint8Array[] = [new Uint8Array([...PIPE_HEADER, ...attrRecord(CPU_CLOCK_G)])];
  const round = new Uint8Array(record(68, []));
  for (let i = 0; i < samples; i++) {
    parts.push(new Uint8Array(record(9, sampleBody(BigInt(1_000_000 + i * 1000), stacks[i % stacks.length]!), 2)));
    if (i % 1000 === 999) parts.push(round);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

let page: Page;
let spin: string;
let demo: DemoPage;
let pageErrors: string[];
const scratch = mkdtempSync(join(tmpdir(), "buildid-cache-perf-page-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const cannot = perfCannotRecord(scratch);
if (cannot) console.log(`skipping the page's perf.data tests: ${cannot}`);

describe.skipIf(cannot !== undefined)("section 6 of the demo page: perf.data in Chromium", () => {
  beforeAll(async () => {
    spin = join(scratch, "spin");
    execFileSync("cc", ["-O1", "-x", "c", "-", "-o", spin, "-Wl,--build-id=sha1"], { input: SPIN_C });
    demo = await openDemoPage();
    ({ page, errors: pageErrors } = demo);
  });

  afterAll(async () => {
    await demo?.close();
  });

  it("loads the perf reader (in the section's worker) only once a recording is chosen", async () => {
    const recordingChunk = (path: string) => /\/assets\/perf-worker-[\w-]+\.js$/.test(path);
    expect(demo.server.requests.filter(recordingChunk)).toEqual([]);
    const file = join(scratch, "first.data");
    perfRecord(file, [], { workload: [spin] });
    await choose(page, file);
    expect(demo.server.requests.filter(recordingChunk)).toHaveLength(1);
  }, 120_000);

  it.each(CASES)(
    "$name: processes, files, build IDs and counts as perf gives them; the download is the converter's profile",
    async ({ name, args, pipe }) => {
      const file = join(scratch, `${name.replace(/\W+/g, "-")}.data`);
      perfRecord(file, args, { pipe, workload: ["sh", "-c", `${spin}; ls /usr/lib > /dev/null`] });
      const bytes = new Uint8Array(await readFile(file));
      await choose(page, file);
      expect(await page.locator("#perf-chosen").textContent()).toBe(`Chosen: ${basename(file)}`);
      expect(await page.locator("#perf-error").isHidden()).toBe(true);
      const mode = `${pipe ? "pipe" : "file"} mode${args.includes("-z") ? ", zstd-compressed" : ""}, cpu-clock)`;
      expect(await page.locator("#perf-status").textContent()).toContain(mode);
      const shown = await shownProcesses(page);

      // The table is what the converter finds in Node, from the same bytes.
      const { profile, summary } = await convertPerfData(bytes);
      expect(shown).toEqual(
        summary.processes.map((p) => ({
          pid: p.pid,
          comm: p.comm,
          files: p.files.map(({ file: i, samples }) => ({
            path: summary.files[i]!.path,
            buildId: summary.files[i]!.buildId ?? "",
            samples,
          })),
          unresolved: Object.entries(p.unresolved).map(([reason, samples]) => ({ reason, samples })),
        })),
      );

      // Samples per program run, as perf report counts them per pid and comm.
      const runs = new Map<string, number>();
      for (const p of shown) {
        const total = [...p.files, ...p.unresolved].reduce((n, f) => n + f.samples, 0);
        runs.set(`${p.pid}:${p.comm}`, (runs.get(`${p.pid}:${p.comm}`) ?? 0) + total);
      }
      expect(Object.fromEntries(runs), "samples per pid:comm").toEqual(Object.fromEntries(perfSamplesPerRun(file)));
      expect([...runs.keys()].filter((run) => run.endsWith(":spin"))).toHaveLength(2);

      // Samples per file over all processes, as perf report counts them per dso.
      const perFile = new Map<string, number>();
      for (const f of shown.flatMap((p) => p.files))
        perFile.set(asPerf(f.path), (perFile.get(asPerf(f.path)) ?? 0) + f.samples);
      expect(Object.fromEntries(perFile), "samples per dso").toEqual(Object.fromEntries(perfSamplesPerDso(file)));
      expect(perFile.get(spin)).toBeGreaterThan(0);

      // Build IDs as perf buildid-list gives them, for the files with hits (perf 6.1 cannot decompress pipe input).
      const perfInput = args.includes("-z") && pipe ? decompressedCopy(bytes, `${file}.decompressed`) : file;
      const perfLines = perfBuildIdLines(perfInput, true);
      const pageLines = new Set(
        shown.flatMap((p) => p.files.map((f) => `${f.buildId.padEnd(40)} ${asPerf(f.path)}`.trim())),
      );
      expect([...pageLines].sort(), "perf buildid-list -H").toEqual(perfLines.map((l) => l.trim()).sort());
      expect(perfLines.some((l) => l.endsWith(` ${spin}`))).toBe(true);

      // Every file perf buildid-list (without -H) lists, in its order, each with the samples perf report gives its dso.
      const listed = await shownListed(page);
      expect(
        listed.map((l) => l.line),
        "perf buildid-list",
      ).toEqual(perfBuildIdLines(perfInput, false).map((l) => l.trim()));
      const perDso = perfSamplesPerDso(file);
      expect(listed.map((l) => l.samples)).toEqual(listed.map((l) => perDso.get(l.name) ?? 0));
      expect(listed.find((l) => l.name === spin)?.samples).toBeGreaterThan(0);

      // The download: gzip (as pprof expects of a .pb.gz) around the very bytes the converter writes in Node.
      const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#perf-download").click()]);
      expect(download.suggestedFilename()).toBe(`${basename(file, ".data")}.pb.gz`);
      const downloaded = await readFile((await download.path())!);
      expect([downloaded[0], downloaded[1]]).toEqual([0x1f, 0x8b]);
      expect(Buffer.from(gunzipSync(downloaded)).equals(Buffer.from(profile))).toBe(true);
      await section(page).screenshot({ path: await screenshotPath(`perf-${basename(file, ".data")}`) });
    },
    600_000,
  );

  it("reads the recording once, in slices and a stream, never the whole file at one time", async () => {
    const watched = await demo.browser.context.newPage();
    try {
      // Counts the bytes the page and its workers materialise from the chosen File and from Blobs sliced
      // from it: the same counters in the page and, by wrapping Worker, in each worker first thing; the
      // workers' counts come back over a BroadcastChannel.
      await watched.addInitScript(() => {
        type Reads = { arrayBuffer: number[]; streamed: number; largestChunk: number };
        function instrument(report: (reads: Reads) => void): Reads {
          const fromFile = new WeakSet<Blob>();
          const reads: Reads = { arrayBuffer: [], streamed: 0, largestChunk: 0 };
          const proto = Blob.prototype;
          const { slice, arrayBuffer, stream, text, bytes } = proto;
          const ours = (blob: Blob) => blob instanceof File || fromFile.has(blob);
          const sliced = (blob: Blob) => {
            if (ours(blob)) {
              reads.arrayBuffer.push(blob.size);
              report(reads);
            }
          };
          proto.slice = function (this: Blob, ...rest: Parameters<Blob["slice"]>) {
            const part = slice.apply(this, rest);
            if (ours(this)) fromFile.add(part);
            return part;
          };
          proto.arrayBuffer = function (this: Blob) {
            sliced(this);
            return arrayBuffer.call(this);
          };
          proto.text = function (this: Blob) {
            sliced(this);
            return text.call(this);
          };
          if (bytes)
            proto.bytes = function (this: Blob) {
              sliced(this);
              return bytes.call(this);
            };
          proto.stream = function (this: Blob) {
            const source = stream.call(this);
            if (!ours(this)) return source;
            return source.pipeThrough(
              new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
                transform(chunk, controller) {
                  reads.streamed += chunk.length;
                  reads.largestChunk = Math.max(reads.largestChunk, chunk.length);
                  report(reads);
                  controller.enqueue(chunk);
                },
              }),
            );
          };
          return reads;
        }
        const pageReads = instrument(() => {});
        const workerReads = new Map<string, Reads>();
        (globalThis as unknown as { fileReads: () => Reads }).fileReads = () => {
          const all = [pageReads, ...workerReads.values()];
          return {
            arrayBuffer: all.flatMap((r) => r.arrayBuffer),
            streamed: all.reduce((n, r) => n + r.streamed, 0),
            largestChunk: Math.max(...all.map((r) => r.largestChunk)),
          };
        };
        (globalThis as unknown as { resetReads: () => void }).resetReads = () => {
          pageReads.arrayBuffer.length = 0;
          pageReads.streamed = 0;
          pageReads.largestChunk = 0;
          workerReads.clear();
        };
        new BroadcastChannel("file-reads").onmessage = (event: MessageEvent<{ id: string; reads: Reads }>) => {
          workerReads.set(event.data.id, event.data.reads);
        };
        const Native = Worker;
        globalThis.Worker = class extends Native {
          constructor(url: string | URL, options?: WorkerOptions) {
            const href = new URL(String(url), location.href).href;
            // Messages that arrive while the worker's module loads are held, then given to its handler.
            const prelude = `(${instrument.toString()})((() => { const channel = new BroadcastChannel("file-reads"); const id = crypto.randomUUID(); return (reads) => channel.postMessage({ id, reads }); })());
const held = []; self.onmessage = (event) => held.push(event);
await import(${JSON.stringify(href)});
for (const event of held) self.onmessage(event);`;
            super(URL.createObjectURL(new Blob([prelude], { type: "text/javascript" })), {
              ...options,
              type: "module",
            });
          }
        };
        const said: string[] = [];
        (globalThis as unknown as { statusSaid: string[] }).statusSaid = said;
        addEventListener("DOMContentLoaded", () => {
          const status = document.querySelector("#perf-status")!;
          new MutationObserver(() => said.push(status.textContent ?? "")).observe(status, {
            childList: true,
            characterData: true,
            subtree: true,
          });
        });
      });
      await watched.goto(demo.server.url);
      await watched.locator("body[data-ready]").waitFor();
      for (const pipe of [false, true]) {
        const file = join(scratch, `watched-${pipe ? "pipe" : "file"}.data`);
        perfRecord(file, [], { pipe });
        const size = (await readFile(file)).length;
        await watched.evaluate(() => {
          (globalThis as unknown as { resetReads: () => void }).resetReads();
          (globalThis as unknown as { statusSaid: string[] }).statusSaid.length = 0;
        });
        await choose(watched, file);
        expect(await watched.locator("#perf-error").isHidden()).toBe(true);
        type Reads = { arrayBuffer: number[]; streamed: number; largestChunk: number };
        const readsNow = () =>
          watched.evaluate(() => (globalThis as unknown as { fileReads: () => Reads }).fileReads());
        // The workers' last counts may arrive just after the page shows the recording.
        await expect
          .poll(async () => {
            const r = await readsNow();
            return r.streamed + r.arrayBuffer.reduce((a, b) => a + b, 0);
          })
          .toBeGreaterThanOrEqual(size);
        const reads = await readsNow();
        const sliced = reads.arrayBuffer.reduce((a, b) => a + b, 0);
        console.log(
          `${basename(file)}: ${size} bytes; read as slices ${reads.arrayBuffer.join(" + ")}, streamed ${reads.streamed} (largest chunk ${reads.largestChunk})`,
        );
        expect(reads.streamed, "the records come through a stream").toBeGreaterThan(size / 2);
        expect(Math.max(...reads.arrayBuffer), "no slice holds the records").toBeLessThan(size / 2);
        // The status counts up while the file is read.
        const said = await watched.evaluate(() => (globalThis as unknown as { statusSaid: string[] }).statusSaid);
        const percents = said.flatMap((text) => /…\s(\d+)%$/.exec(text)?.[1] ?? []).map(Number);
        expect(percents.length, said.join("\n")).toBeGreaterThan(0);
        expect(percents).toEqual([...percents].sort((a, b) => a - b));
        expect(Math.max(...percents)).toBeLessThanOrEqual(100);
        // Each byte once; the file header's first bytes are read twice, to tell file mode from pipe mode.
        expect(sliced + reads.streamed).toBeGreaterThanOrEqual(size);
        expect(sliced + reads.streamed).toBeLessThanOrEqual(size + FILE_HEADER_SIZE);
      }
    } finally {
      await watched.close();
    }
  }, 300_000);

  it("converts a large recording in its worker: the page's own thread stays free, the table is the converter's", async () => {
    const seed = seedFrom("PERF_PAGE_SEED", "large synthesized recording");
    const bytes = synthesizedRecording(mulberry32(seed), 120_000);
    const path = join(scratch, "large.data");
    await writeFile(path, bytes);
    // From the choice to the shown recording: the page thread's long tasks (over 50 ms) and a 20 ms timer's ticks.
    await page.evaluate(() => {
      const g = globalThis as unknown as { busy: { long: number; ticks: number }; stopBusy: () => void };
      g.busy = { long: 0, ticks: 0 };
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) g.busy.long += entry.duration;
      });
      observer.observe({ type: "longtask" });
      const timer = setInterval(() => g.busy.ticks++, 20);
      g.stopBusy = () => {
        clearInterval(timer);
        observer.disconnect();
      };
    });
    const started = performance.now();
    await choose(page, path);
    const elapsed = performance.now() - started;
    const busy = await page.evaluate(() => {
      const g = globalThis as unknown as { busy: { long: number; ticks: number }; stopBusy: () => void };
      g.stopBusy();
      return g.busy;
    });
    console.log(
      `large.data: ${bytes.length} bytes in ${Math.round(elapsed)} ms; page thread in long tasks ${Math.round(busy.long)} ms, ${busy.ticks} ticks of 20 ms`,
    );
    expect(await page.locator("#perf-error").isHidden()).toBe(true);
    expect(busy.long, "time the page's thread spent in long tasks").toBeLessThan(elapsed * 0.3);
    expect(busy.ticks, "the timer's ticks").toBeGreaterThan(elapsed / 20 / 4);
    const { summary } = await convertPerfData(bytes);
    expect(summary.samples).toBe(120_000);
    const shown = await shownProcesses(page);
    expect(shown.map((p) => [p.pid, p.comm, p.unresolved])).toEqual(
      summary.processes.map((p) => [
        p.pid,
        p.comm,
        Object.entries(p.unresolved).map(([reason, samples]) => ({ reason, samples })),
      ]),
    );
  }, 600_000);

  it("a file chosen while another converts ends the older one's worker, and only the newer one is shown", async () => {
    const watched = await demo.browser.context.newPage();
    const errors: string[] = [];
    watched.on("pageerror", (error) => errors.push(error.message));
    try {
      // Every section-6 worker the page starts: what it posted, and whether the page ended it before its result.
      await watched.addInitScript(() => {
        type Seen = { messages: number; result: boolean; endedConverting: boolean; resultBeforeNext?: boolean };
        const seen: Seen[] = [];
        (globalThis as unknown as { perfWorkers: Seen[] }).perfWorkers = seen;
        const Native = Worker;
        const ours = new WeakMap<Worker, Seen>();
        globalThis.Worker = class extends Native {
          constructor(url: string | URL, options?: WorkerOptions) {
            super(url, options);
            if (!/perf-worker/.test(String(url))) return;
            for (const older of seen) older.resultBeforeNext ??= older.result;
            const mine: Seen = { messages: 0, result: false, endedConverting: false };
            seen.push(mine);
            ours.set(this, mine);
            this.addEventListener("message", (event: MessageEvent<{ type: string }>) => {
              mine.messages++;
              if (event.data.type !== "progress") mine.result = true;
            });
          }
          override terminate(): void {
            const mine = ours.get(this);
            if (mine && !mine.result) mine.endedConverting = true;
            super.terminate();
          }
        };
      });
      await watched.goto(demo.server.url);
      await watched.locator("body[data-ready]").waitFor();
      type Seen = { messages: number; result: boolean; endedConverting: boolean; resultBeforeNext?: boolean };
      const workers = () => watched.evaluate(() => (globalThis as unknown as { perfWorkers: Seen[] }).perfWorkers);

      const newer = join(scratch, "newer.data");
      perfRecord(newer, [], { workload: [spin] });
      const older = join(scratch, "older.data");
      const seed = seedFrom("PERF_PAGE_SEED", "older recording");
      // The older file must still be converting when the newer one is chosen: larger until it is.
      let taken: Seen[] = [];
      for (let samples = 200_000; ; samples *= 2) {
        await writeFile(older, synthesizedRecording(mulberry32(seed), samples));
        const first = (await workers()).length;
        await watched.locator("#perf-input").setInputFiles(older);
        await watched.waitForFunction(
          (n) => {
            const w = (globalThis as unknown as { perfWorkers: { messages: number }[] }).perfWorkers[n];
            return w !== undefined && w.messages > 0;
          },
          first,
          { timeout: 120_000 },
        );
        await choose(watched, newer);
        taken = (await workers()).slice(first);
        if (taken[0]!.resultBeforeNext === false) break;
        if (samples >= 1_600_000) throw new Error(`${samples} samples converted before the next file was chosen`);
      }
      const [a, b] = taken;
      expect(taken).toHaveLength(2);
      expect(a!.endedConverting, "the older file's worker ended before its result").toBe(true);
      expect(b!.result).toBe(true);

      // Only the newer recording: its status, its table as the converter gives it, none of the older one's pid 7.
      expect(await watched.locator("#perf-status").textContent()).toMatch(/^newer\.data \(/);
      const { summary } = await convertPerfData(new Uint8Array(await readFile(newer)));
      const shown = await shownProcesses(watched);
      expect(shown.map((p) => [p.pid, p.comm])).toEqual(summary.processes.map((p) => [p.pid, p.comm]));
      expect(shown.map((p) => p.pid)).not.toContain(7);
      expect(await watched.locator("#perf-download").isEnabled()).toBe(true);

      // The older worker posts nothing more while the same file converts in full again: it had ended.
      await choose(watched, older);
      const after = await workers();
      expect(after[after.length - 1]!.result).toBe(true);
      expect(after.slice(-3)[0], "the older worker, after a whole conversion of its file").toEqual(a);
      expect(errors).toEqual([]);
    } finally {
      await watched.close();
    }
  }, 600_000);

  it("shows the reader's typed error for a truncated or garbage file, and the page goes on working", async () => {
    const seed = seedFrom("PERF_PAGE_SEED", "garbage perf.data");
    const next = mulberry32(seed);
    const recorded = join(scratch, "whole.data");
    perfRecord(recorded, [], { workload: [spin] });
    const piped = join(scratch, "whole-pipe.data");
    perfRecord(piped, [], { pipe: true, workload: [spin] });
    const whole = new Uint8Array(await readFile(recorded));
    const wholePipe = new Uint8Array(await readFile(piped));
    // File mode: cut before the data section's end, which the header gives. Pipe mode: cut inside a record
    // (a pipe cut between records is a shorter recording, which perf reads too).
    const cut = (bytes: Uint8Array) => bytes.subarray(0, 200 + Math.floor(next() * (bytes.length / 2)));
    const records = [...readPerfData(wholePipe).rawRecords()];
    const inside = records[Math.floor(next() * records.length)]!;
    const cutPipe = wholePipe.subarray(0, inside.offset + 1 + Math.floor(next() * (inside.size - 1)));
    const hostile: [string, Uint8Array][] = [
      ["truncated.data", cut(whole)],
      ["truncated-pipe.data", cutPipe],
      ["garbage.data", Uint8Array.from({ length: 4096 }, () => Math.floor(next() * 256))],
      ["empty.data", new Uint8Array(0)],
    ];
    for (const [name, bytes] of hostile) {
      const path = join(scratch, name);
      await writeFile(path, bytes);
      const expected = await convertPerfData(new Blob([bytes as Uint8Array<ArrayBuffer>])).then(
        () => undefined,
        (error: { name: string; code: string; offset: number }) => error,
      );
      expect(expected, `${name}: the converter in Node refuses it`).toBeDefined();
      await choose(page, path);
      expect(await shownError(page), name).toEqual({
        name: expected!.name,
        code: expected!.code,
        offset: String(expected!.offset),
      });
      expect(expected!.name).toBe("PerfDataError");
      expect(await page.locator("#perf-error").textContent()).toContain(`PerfDataError ${expected!.code}`);
      expect(await page.locator("#perf-table").isHidden()).toBe(true);
      expect(await page.locator("#perf-download").isDisabled()).toBe(true);
    }
    await section(page).screenshot({ path: await screenshotPath("perf-refused") });

    // A good file again is read, and the other sections still answer.
    await choose(page, recorded);
    expect(await page.locator("#perf-error").isHidden()).toBe(true);
    expect(await page.locator("#perf-download").isEnabled()).toBe(true);
    await page.locator("#elf-input").setInputFiles(spin);
    const row = page.locator('#elf-table tbody tr[data-file="spin"] .build-id code');
    expect(await row.textContent()).toMatch(/^[0-9a-f]{40}$/);
  }, 300_000);

  it("says what was dropped, reads the first of several files, and fits 390 px wide", async () => {
    const file = join(scratch, "dropped.data");
    perfRecord(file, [], { workload: [spin] });
    const base64 = (await readFile(file)).toString("base64");
    const dataTransfer = await page.evaluateHandle((base64) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], "dropped.data"));
      transfer.items.add(new File(["not a recording"], "notes.txt"));
      return transfer;
    }, base64);
    for (const type of ["dragenter", "dragover", "drop"])
      await page.dispatchEvent('[data-drop="perf"]', type, { dataTransfer });
    await expect.poll(() => page.locator("#perf-status").textContent(), { timeout: 120_000 }).toMatch(/^dropped\.data/);
    expect(await page.locator("#perf-chosen").textContent()).toBe("Dropped: dropped.data, notes.txt");
    expect(await page.locator("#perf-status").textContent()).toMatch(/ Ignored notes\.txt: one recording at a time\.$/);
    expect(await page.locator("#perf-table tbody tr.file").count()).toBeGreaterThan(0);

    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const outside = await page.evaluate(() => {
        const table = document.querySelector<HTMLTableElement>("#perf-table")!;
        const box = table.parentElement!.getBoundingClientRect();
        return [table, ...table.querySelectorAll("*")]
          .map((node) => ({ node, rect: node.getBoundingClientRect() }))
          .filter(({ rect }) => rect.width > 0 && (rect.right > box.right + 0.5 || rect.left < box.left - 0.5))
          .map(({ node }) => `${node.tagName.toLowerCase()} "${node.textContent?.slice(0, 40)}"`);
      });
      expect(outside).toEqual([]);
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth),
      ).toBe(0);
      await page.screenshot({ path: await screenshotPath("perf-narrow"), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1200, height: 900 });
    }
  }, 300_000);

  it("reads a recording when served without COOP/COEP too", async () => {
    await withUnisolatedPage(demo.browser, async (other) => {
      expect(await other.evaluate(() => crossOriginIsolated)).toBe(false);
      const file = join(scratch, "not-isolated.data");
      perfRecord(file, [], { workload: [spin] });
      await choose(other, file);
      expect(await other.locator("#perf-error").isHidden()).toBe(true);
      expect(await other.locator("#perf-table tbody tr.file").count()).toBeGreaterThan(0);
      expect(await other.locator("#perf-download").isEnabled()).toBe(true);
    });
  }, 120_000);

  it("raised no errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
