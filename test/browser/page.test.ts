// The demo page (npm run build:web) in headless Debian Chromium, checked against readelf.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import type { Page } from "playwright-core";
import { Location, Mapping, Profile, Sample, StringTable, ValueType } from "pprof-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BenchResult, turnPasses } from "../../web/bench.js";
import { pairedMedian } from "../../web/bench-stats.js";
import { SWEEP_BYTES } from "../../web/bench-timing.js";
import { type DemoPage, openDemoPage, screenshotPath, serveStatic, WEB_DIST, withUnisolatedPage } from "./harness.js";

const SYSTEM_ELVES = ["/usr/bin/true", "/bin/true", "/usr/bin/ls", "/bin/ls"];

function readelf(args: string[], path: string): string {
  return execFileSync("readelf", ["-W", ...args, path], { encoding: "utf8" });
}

function readelfBuildId(path: string): string | undefined {
  return /Build ID: ([0-9a-f]+)/.exec(readelf(["-n"], path))?.[1];
}

/** ELF class and byte order as readelf prints them, in the page's words ("ELF64", "little-endian"). */
function readelfKind(path: string): { elfClass: string; endian: string } {
  const header = readelf(["-h"], path);
  const elfClass = /Class:\s+(ELF\d+)/.exec(header)?.[1];
  const endian = /Data:\s+.*(little|big) endian/.exec(header)?.[1];
  if (!elfClass || !endian) throw new Error(`readelf -h ${path} printed no class or byte order:\n${header}`);
  return { elfClass, endian: `${endian}-endian` };
}

/** The first of `paths` that exists and has a build ID, so the test runs on any Debian-like machine. */
function systemElf(paths: string[]): string {
  const found = paths.find((path) => existsSync(path) && readelfBuildId(path) !== undefined);
  if (!found) throw new Error(`none of ${paths.join(", ")} is an ELF file with a build ID`);
  return found;
}

function compile(output: string, linkerFlags: string[]): void {
  execFileSync("cc", ["-x", "c", "-", "-o", output, ...linkerFlags], { input: "int main(void) { return 0; }\n" });
}

const KEPT_ID = "00112233445566778899aabbccddeeff00112233";
/** The page's benchmark runs at least 20 rounds and, on a busy machine, up to a minute more. */
const BENCH_TIMEOUT_MS = 240_000;

/** A small CPU profile whose mappings name `elf`, a file without a build ID, a missing file, [vdso] and one already annotated. */
function profileFor(elf: string): Uint8Array {
  const strings = new StringTable();
  const mapping = (id: number, start: number, filename: string, buildId = "") =>
    new Mapping({
      id,
      memoryStart: start,
      memoryLimit: start + 0x10000,
      filename: strings.dedup(filename),
      buildId: strings.dedup(buildId),
    });
  return new Profile({
    sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") })],
    mapping: [
      mapping(1, 0x55550000, elf),
      mapping(2, 0x7f0000000000, "/opt/app/no-build-id"),
      mapping(3, 0x7f0000100000, "/usr/lib/libgone.so.1"),
      mapping(4, 0x7ffff7fc0000, "[vdso]"),
      mapping(5, 0x7f0000200000, "/usr/lib/libkept.so", KEPT_ID),
    ],
    location: [new Location({ id: 1, mappingId: 1, address: 0x55551234 })],
    sample: [new Sample({ locationId: [1], value: [7] })],
    stringTable: strings,
  }).encode();
}

let page: Page;
let scratch: string;
let demo: DemoPage;
let pageErrors: string[];

/** Drags `paths` onto the element at `selector` and drops them there, as from a file manager. */
async function drop(selector: string, paths: string[]): Promise<void> {
  const files = await Promise.all(
    paths.map(async (path) => ({ name: basename(path), base64: (await readFile(path)).toString("base64") })),
  );
  const dataTransfer = await page.evaluateHandle((files) => {
    const transfer = new DataTransfer();
    for (const { name, base64 } of files)
      transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name));
    return transfer;
  }, files);
  await page.dispatchEvent(selector, "dragenter", { dataTransfer });
  await page.dispatchEvent(selector, "dragover", { dataTransfer });
  expect(await page.locator(selector).getAttribute("class")).toContain("over");
  await page.dispatchEvent(selector, "drop", { dataTransfer });
  expect(await page.locator(selector).getAttribute("class")).not.toContain("over");
}

async function elfRow(path: string) {
  const row = page.locator(`#elf-table tbody tr[data-file="${basename(path)}"]`).last();
  await row.waitFor();
  return row;
}

describe("the demo page in Chromium", () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "buildid-cache-page-"));
    demo = await openDemoPage();
    ({ page, errors: pageErrors } = demo);
  });

  afterAll(async () => {
    await demo?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("a worker reads the page's shared cache while the page writes it: hits, and no wrong ID", async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.locator("#shared-run").click();
    const status = page.locator("#shared-status[data-wrong]");
    await status.waitFor({ timeout: 60_000 });
    expect(await status.getAttribute("data-wrong")).toBe("0");
    expect(Number(await status.getAttribute("data-hits"))).toBeGreaterThan(0);
  });

  it("loads the core as its own .wasm asset", () => {
    expect(demo.server.requests.filter((path) => /\/assets\/core-[\w-]+\.wasm$/.test(path))).toHaveLength(1);
  });

  it("shows the build ID readelf prints for an ELF file of this machine", async () => {
    const elf = systemElf(SYSTEM_ELVES);
    const kind = readelfKind(elf);
    await page.locator("#elf-input").setInputFiles(elf);
    const row = await elfRow(elf);

    expect(await row.locator(".build-id code").textContent()).toBe(readelfBuildId(elf));
    expect(await row.locator(".elf-class").textContent()).toMatch(new RegExp(`^${kind.elfClass}`));
    expect(await row.locator(".endian").textContent()).toBe(kind.endian);
    expect(await row.locator(".source").textContent()).toMatch(/PT_NOTE program header|SHT_NOTE section/);
    await expect
      .poll(() => page.locator("#elf-status").textContent())
      .toBe("1 file read: 1 with a build ID, 0 without.");
    await page.screenshot({ path: await screenshotPath("1-elf-file"), fullPage: true });
  });

  it("reports a non-ELF file and an ELF file without a build ID, then reads the next ELF file", async () => {
    const text = join(scratch, "notes.txt");
    await writeFile(text, "not an ELF file, just some text\n");
    const plain = join(scratch, "no-build-id");
    compile(plain, ["-Wl,--build-id=none"]);
    expect(readelfBuildId(plain)).toBeUndefined();

    await page.locator("#elf-input").setInputFiles([text, plain]);
    expect(await (await elfRow(text)).locator(".message").textContent()).toMatch(/^Not an ELF file\.\S/);
    expect(await (await elfRow(plain)).locator(".message").textContent()).toMatch(
      /^ELF file without a GNU build ID\.\S/,
    );

    const next = join(scratch, "with-build-id");
    compile(next, ["-Wl,--build-id=sha1"]);
    await page.locator("#elf-input").setInputFiles(next);
    expect(await (await elfRow(next)).locator(".build-id code").textContent()).toBe(readelfBuildId(next));
    await expect
      .poll(() => page.locator("#elf-status").textContent())
      .toBe("4 files read: 2 with a build ID, 2 without.");
    await page.screenshot({ path: await screenshotPath("2-elf-errors"), fullPage: true });
  });

  it("fills a profile's mappings from binaries dropped with it and downloads the annotated profile", async () => {
    const elf = systemElf(SYSTEM_ELVES);
    const noBuildId = join(scratch, "no-build-id");
    compile(noBuildId, ["-Wl,--build-id=none"]);
    const profilePath = join(scratch, "cpu.pb.gz");
    await writeFile(profilePath, gzipSync(profileFor(elf)));

    await page.locator("#pprof-input").setInputFiles([profilePath, elf, noBuildId]);
    await expect
      .poll(() => page.locator("#pprof-status").textContent())
      .toBe("cpu.pb.gz: 5 mappings; 1 build ID filled, 1 already set, 3 left without.");
    const results = await page
      .locator("#pprof-table tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.querySelector(".file")?.textContent, tr.querySelector(".result")?.textContent]),
      );
    expect(results).toEqual([
      [elf, "filled"],
      ["/opt/app/no-build-id", "no-build-id has no build ID"],
      ["/usr/lib/libgone.so.1", "no file named libgone.so.1 was dropped"],
      ["[vdso]", "not a file"],
      ["/usr/lib/libkept.so", "already in the profile"],
    ]);
    await page.screenshot({ path: await screenshotPath("3-profile"), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#pprof-download").click()]);
    expect(download.suggestedFilename()).toBe("cpu.annotated.pb.gz");
    const annotated = Profile.decode(gunzipSync(await readFile(await download.path())));
    const buildIds = annotated.mapping.map((m) => annotated.stringTable.strings[Number(m.buildId)]);
    expect(buildIds).toEqual([readelfBuildId(elf), "", "", "", KEPT_ID]);
    expect(annotated.sample.map((sample) => sample.value.map(Number))).toEqual([[7]]);
    expect(annotated.location.map((location) => Number(location.address))).toEqual([0x55551234]);
  });

  it("reads files dropped on either zone, and keeps a drop elsewhere from leaving the page", async () => {
    const elf = join(scratch, "dropped");
    compile(elf, ["-Wl,--build-id=sha1"]);
    await drop('[data-drop="elf"]', [elf]);
    expect(await (await elfRow(elf)).locator(".build-id code").textContent()).toBe(readelfBuildId(elf));

    const profilePath = join(scratch, "dropped.pb.gz");
    await writeFile(profilePath, gzipSync(profileFor(elf)));
    await drop('[data-drop="pprof"]', [profilePath, elf]);
    await expect
      .poll(() => page.locator("#pprof-status").textContent())
      .toBe("dropped.pb.gz: 5 mappings; 1 build ID filled, 1 already set, 3 left without.");

    // Outside the zones the page cancels the drop, which a browser would otherwise open as the file.
    const cancelled = await page.evaluate(() =>
      ["dragover", "drop"].map((type) => {
        const event = new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: new DataTransfer() });
        document.querySelector("h1")!.dispatchEvent(event);
        return event.defaultPrevented;
      }),
    );
    expect(cancelled).toEqual([true, true]);
  });

  it(
    "runs the benchmark from the keyboard and charts both implementations with their numbers",
    async () => {
      await page.locator("#bench-keys").selectOption("1024");
      await page.locator("#bench-keys").focus();
      await page.keyboard.press("Tab");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("bench-run");
      await page.keyboard.press("Enter");
      // Rounds go on until every row is precise enough, for at most ROUND_LIMIT times as many: longer on a busy machine.
      await expect
        .poll(() => page.locator("#bench-status").textContent(), { timeout: BENCH_TIMEOUT_MS })
        .toMatch(/^Done: 1,024 keys/);

      const rows = await page.locator("#bench-table tbody tr").evaluateAll((trs) =>
        trs.map((tr) => ({
          operation: tr.getAttribute("data-operation"),
          cache: Number(tr.querySelector(".cache-ns")?.textContent),
          map: Number(tr.querySelector(".map-ns")?.textContent),
        })),
      );
      expect(rows.map((row) => row.operation)).toEqual([
        "insert into empty",
        "lookup, hit",
        "lookup, miss",
        "batched lookup",
        "insert, evicting",
      ]);
      for (const row of rows) {
        expect(row.cache, `${row.operation}, cache`).toBeGreaterThan(0);
        expect(row.map, `${row.operation}, Map`).toBeGreaterThan(0);
      }
      const chart = page.locator("#bench-chart svg");
      await expect
        .poll(() => chart.locator("text.legend").allTextContents())
        .toEqual(["BuildIdCache", "Map<bigint, Uint8Array>"]);
      const labels = await chart.locator("text.value").allTextContents();
      expect(labels).toEqual(rows.flatMap((row) => [`${row.cache.toFixed(1)} ns`, `${row.map.toFixed(1)} ns`]));
      expect(await chart.locator("rect.series-0 > title").count()).toBe(rows.length);
      expect(await chart.locator("rect.series-1 > title").count()).toBe(rows.length);

      // Every row did its work: lookups hit and missed, and the evicting row evicted (not updated) in the cache.
      const benchCounter = async (label: string) =>
        Number(
          (
            await page.locator("#stats-table tbody tr", { hasText: label }).locator("td").last().textContent()
          )?.replaceAll(",", ""),
        );
      expect(await benchCounter("Hits")).toBeGreaterThan(0);
      expect(await benchCounter("Misses")).toBeGreaterThan(0);
      expect(await benchCounter("Evictions")).toBeGreaterThan(0);
      const ratios = await page
        .locator("#bench-table tbody tr")
        .evaluateAll((trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })));
      // Each row's ratio is the paired median of the two sides' slices, round by round, the page kept.
      const slices = await page.evaluate(() =>
        (globalThis as { benchResult?: BenchResult }).benchResult!.rows.map(({ cacheSlices, mapSlices }) => ({
          cacheSlices,
          mapSlices,
        })),
      );
      for (const [i, row] of ratios.entries()) {
        const { cacheSlices, mapSlices } = slices[i]!;
        expect(Number(row.ratio)).toBeCloseTo(pairedMedian(cacheSlices, mapSlices).ratio, 6);
        const [low, high] = row.interval!.split(" ").map(Number);
        expect(
          low! > 0 && low! <= Number(row.ratio) && Number(row.ratio) <= high!,
          `${row.operation}: ${row.interval}`,
        ).toBe(true);
      }
      expect(await page.locator("#bench-method").textContent()).toMatch(
        /timer steps [\d.]+ µs \(cross-origin isolated\)/,
      );
      // Every turn is the same whole passes after the same sweep, whatever the calibration timed.
      expect(await page.locator("#bench-method").textContent()).toContain(
        `each side's turn ${turnPasses(1024)} passes over the keys, right after an untimed read of ${SWEEP_BYTES >> 20} MiB`,
      );
      await page.screenshot({ path: await screenshotPath("4-benchmark"), fullPage: true });
    },
    BENCH_TIMEOUT_MS + 60_000,
  );

  it("says which files were chosen or dropped, where the input would still say 'No file chosen'", async () => {
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a visitor reads.
    const zoneText = (zone: string) => page.locator(`[data-drop="${zone}"]`).innerText();
    const elf = systemElf(SYSTEM_ELVES);
    const other = join(scratch, "chosen-too");
    compile(other, ["-Wl,--build-id=sha1"]);
    await page.locator("#elf-input").setInputFiles([elf, other]);
    await expect.poll(() => zoneText("elf")).toContain(`${basename(elf)}, chosen-too`);
    expect(await zoneText("elf")).not.toContain("No file chosen");

    const profilePath = join(scratch, "chosen.pb");
    await writeFile(profilePath, profileFor(elf));
    await drop('[data-drop="pprof"]', [profilePath, elf]);
    await expect.poll(() => zoneText("pprof")).toContain(`chosen.pb, ${basename(elf)}`);
    expect(await zoneText("pprof")).not.toContain("No file chosen");
  });

  it("lists a binary read again (same name, size and content) once, and a changed one in place of the old", async () => {
    const elf = join(scratch, "read-twice");
    compile(elf, ["-Wl,--build-id=sha1"]);
    const rows = page.locator('#elf-table tbody tr[data-file="read-twice"]');
    await page.locator("#elf-input").setInputFiles(elf);
    await elfRow(elf);
    const profilePath = join(scratch, "twice.pb.gz");
    await writeFile(profilePath, gzipSync(profileFor(elf)));
    await drop('[data-drop="pprof"]', [profilePath, elf]);
    await expect
      .poll(() => page.locator("#pprof-status").textContent())
      .toBe("twice.pb.gz: 5 mappings; 1 build ID filled, 1 already set, 3 left without.");
    expect(await rows.count()).toBe(1);
    expect(await page.locator("#elf-status").textContent()).toMatch(/listed once: read-twice\.$/);

    // The same name with other content is another file: its row replaces the old one.
    compile(elf, ["-Wl,--build-id=md5"]);
    await page.locator("#elf-input").setInputFiles(elf);
    await expect.poll(() => rows.locator(".build-id code").allTextContents()).toEqual([readelfBuildId(elf)]);
  });

  it("served without COOP/COEP, says which headers section 5 needs and runs the other sections", async () => {
    await withUnisolatedPage(demo.browser, async (other) => {
      expect(await other.evaluate(() => crossOriginIsolated)).toBe(false);
      expect(await other.locator("#shared-run").isDisabled()).toBe(true);
      const notice = other.locator("#shared-unavailable");
      expect(await notice.isVisible()).toBe(true);
      const said = await notice.textContent();
      expect(said).toContain("Cross-Origin-Opener-Policy: same-origin");
      expect(said).toContain("Cross-Origin-Embedder-Policy: require-corp");

      const elf = systemElf(SYSTEM_ELVES);
      await other.locator("#elf-input").setInputFiles(elf);
      const row = other.locator(`#elf-table tbody tr[data-file="${basename(elf)}"]`);
      expect(await row.locator(".build-id code").textContent()).toBe(readelfBuildId(elf));
      await other.screenshot({ path: await screenshotPath("6-not-isolated"), fullPage: true });
    });
  });

  it("is usable 390 px wide: no table wider than its section, no sideways scrolling", async () => {
    // Every table has rows by now (the benchmark ran above); one more file with a long name.
    const text = join(scratch, "a-text-file-with-a-rather-long-name-that-does-not-fit.txt");
    await writeFile(text, "not an ELF file\n");
    await page.locator("#elf-input").setInputFiles(text);
    await elfRow(text);
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const overflow = await page.evaluate(() => {
        const tables = [...document.querySelectorAll("table")].filter((table) => table.offsetParent !== null);
        return {
          tables: tables.map((table) => `${table.id}: ${table.tBodies[0]?.rows.length} rows`),
          sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          outside: tables.flatMap((table) => {
            const box = table.parentElement!.getBoundingClientRect();
            return [table, ...table.querySelectorAll("*")]
              .map((node) => ({ node, rect: node.getBoundingClientRect() }))
              .filter(({ rect }) => rect.width > 0 && (rect.right > box.right + 0.5 || rect.left < box.left - 0.5))
              .map(({ node }) => `${table.id}: ${node.tagName.toLowerCase()} "${node.textContent?.slice(0, 40)}"`);
          }),
        };
      });
      expect(overflow.tables.map((t) => t.split(":")[0])).toEqual([
        "elf-table",
        "pprof-table",
        "bench-table",
        "stats-table",
      ]);
      expect(overflow.tables.every((t) => !t.endsWith(" 0 rows"))).toBe(true);
      expect(overflow.outside).toEqual([]);
      expect(overflow.sideways).toBe(0);
      await page.screenshot({ path: await screenshotPath("5-narrow"), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1200, height: 900 });
    }
  });

  it("still loads the core from a server that sends core.wasm with the wrong MIME type", async () => {
    const misconfigured = await serveStatic(WEB_DIST, { ".wasm": "application/octet-stream" });
    const other = await demo.browser.context.newPage();
    try {
      await other.goto(misconfigured.url);
      await other.locator("body[data-ready]").waitFor();
      const entries = other.locator("#stats-table tbody tr", { hasText: "Entries" }).locator("td").first();
      expect(await entries.textContent()).toBe("0 of 4,096");
      expect(misconfigured.requests.some((path) => path.endsWith(".wasm"))).toBe(true);
    } finally {
      await other.close();
      await misconfigured.close();
    }
  });

  it("raised no errors in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
