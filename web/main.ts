// The demo page: build IDs of dropped ELF files, pprof annotation, the benchmark and the cache's counters.
import {
  type BuildIdAnswer,
  BuildIdCache,
  type BuildIdCacheStats,
  type BuildIdInfo,
  ElfError,
  type ElfErrorCode,
  formatBytes,
  hasElfMagic,
  type ProfileMapping,
  readBuildId,
} from "../src/index.js";
import { type BenchResult, runBenchmark } from "./bench.js";
import { barChart } from "./chart.js";
import { type AnnotatedProfile, annotateFile, type MappingRow } from "./profile.js";
import type { ReaderReport } from "./reader.js";
import { sharedDemoId } from "./shared-id.js";

function element<T extends Element>(selector: string): T {
  const found = document.querySelector<T>(selector);
  if (!found) throw new Error(`the page has no ${selector}`);
  return found;
}

function cell(row: HTMLTableRowElement, text: string, className = ""): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  td.className = className;
  return td;
}

const FILE_CACHE_CAPACITY = 4096;

/** Headlines for the ELF reader's error codes; the error's own message follows with the details. */
const ELF_PROBLEMS: Record<ElfErrorCode, string> = {
  NOT_ELF: "Not an ELF file.",
  NO_BUILD_ID: "ELF file without a GNU build ID.",
  TRUNCATED: "Truncated ELF file.",
  BAD_HEADER: "Corrupt ELF header.",
  BAD_NOTE: "Corrupt ELF note.",
  LIMIT: "ELF file too large to scan.",
};

const MACHINES: Record<number, string> = {
  3: "i386",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "s390",
  40: "ARM",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

const NOTE_SOURCES: Record<BuildIdInfo["source"], string> = {
  "program-header": "PT_NOTE program header",
  section: "SHT_NOTE section",
};

/** What the file cache knows of a file name: its number and the identity it was given for. */
interface FileEntry {
  key: bigint;
  size: number;
  lastModified: number;
}

/** Reading one dropped file: its build ID or why there is none. */
type ElfResult = { file: File; info: BuildIdInfo; cached: boolean } | { file: File; error: unknown };

class Page {
  readonly #fileCache: BuildIdCache;
  /** File name to file number, as a directory maps names to inode numbers. */
  readonly #directory = new Map<string, FileEntry>();
  #nextFileNumber = 1n;
  /** Names of files read without a build ID, so a profile can say why a mapping stays empty. */
  readonly #withoutBuildId = new Set<string>();
  #bench: BenchResult | undefined;
  #elfCounts = { files: 0, ids: 0 };
  #annotated: AnnotatedProfile | undefined;

  constructor(fileCache: BuildIdCache) {
    this.#fileCache = fileCache;
  }

  /** File number for `file`; a changed file under a known name gets a new one and loses the old entry. */
  #fileNumber(file: File): bigint {
    const known = this.#directory.get(file.name);
    if (known && known.size === file.size && known.lastModified === file.lastModified) return known.key;
    if (known) this.#fileCache.delete(known.key);
    const key = this.#nextFileNumber++;
    this.#directory.set(file.name, { key, size: file.size, lastModified: file.lastModified });
    return key;
  }

  /** The build ID of a mapping's file, looked up in the file cache by the file's name. */
  #findBuildId = ({ filename }: ProfileMapping): BuildIdAnswer => {
    const name = filename.slice(filename.lastIndexOf("/") + 1);
    if (name === "" || filename.startsWith("[")) return { reason: "not a file" };
    const entry = this.#directory.get(name);
    const buildId = entry === undefined ? undefined : this.#fileCache.get(entry.key);
    if (buildId !== undefined) return buildId;
    if (this.#withoutBuildId.has(name)) return { reason: `${name} has no build ID` };
    return { reason: `no file named ${name} was dropped` };
  };

  async readElf(file: File): Promise<ElfResult> {
    const key = this.#fileNumber(file);
    try {
      const info = readBuildId(new Uint8Array(await file.arrayBuffer()));
      if (info.fitsKernel) this.#fileCache.set(key, info.bytes);
      this.#withoutBuildId.delete(file.name);
      return { file, info, cached: info.fitsKernel };
    } catch (error) {
      this.#withoutBuildId.add(file.name);
      return { file, error };
    }
  }

  async addElfFiles(files: File[]): Promise<void> {
    if (files.length === 0) return;
    const status = element<HTMLElement>("#elf-status");
    status.textContent = `Reading ${plural(files.length, "file")}…`;
    const results = await Promise.all(files.map((file) => this.readElf(file)));
    const table = element<HTMLTableElement>("#elf-table");
    for (const result of results) this.#elfRow(table.tBodies[0] as HTMLTableSectionElement, result);
    table.hidden = false;
    this.#elfCounts.files += results.length;
    this.#elfCounts.ids += results.filter((result) => "info" in result).length;
    const { files: read, ids } = this.#elfCounts;
    status.textContent = `${plural(read, "file")} read: ${ids} with a build ID, ${read - ids} without.`;
    this.showStats();
  }

  #elfRow(body: HTMLTableSectionElement, result: ElfResult): void {
    const row = body.insertRow();
    row.dataset.file = result.file.name;
    const name = cell(row, result.file.name, "file");
    name.append(Object.assign(document.createElement("small"), { textContent: formatBytes(result.file.size) }));
    if ("error" in result) {
      row.className = "problem";
      const message = cell(row, "", "message");
      message.colSpan = 4;
      const code = result.error instanceof ElfError ? result.error.code : undefined;
      const headline = code === undefined ? "Could not read this file." : ELF_PROBLEMS[code];
      const detail = result.error instanceof Error ? result.error.message : String(result.error);
      message.append(Object.assign(document.createElement("strong"), { textContent: headline }));
      message.append(Object.assign(document.createElement("small"), { textContent: detail }));
      return;
    }
    const { info } = result;
    const id = cell(row, "", "build-id");
    id.append(Object.assign(document.createElement("code"), { textContent: info.buildId }));
    if (!result.cached)
      id.append(
        Object.assign(document.createElement("small"), { textContent: `${info.length} bytes: too long to cache` }),
      );
    const kind = cell(row, `ELF${info.elfClass}`, "elf-class");
    kind.append(
      Object.assign(document.createElement("small"), {
        textContent: `${info.type}, ${MACHINES[info.machine] ?? `machine ${info.machine}`}`,
      }),
    );
    cell(row, info.endian === "little" ? "little-endian" : "big-endian", "endian");
    cell(row, NOTE_SOURCES[info.source], "source");
  }

  /** Takes a profile and binaries dropped together: binaries first, then the profile is annotated. */
  async addProfileFiles(files: File[]): Promise<void> {
    if (files.length === 0) return;
    const status = element<HTMLElement>("#pprof-status");
    const isElf = await Promise.all(
      files.map(async (file) => hasElfMagic(new Uint8Array(await file.slice(0, 4).arrayBuffer()))),
    );
    await this.addElfFiles(files.filter((_, i) => isElf[i]));
    const [profile, ...others] = files.filter((_, i) => !isElf[i]);
    if (profile === undefined) {
      status.textContent = "No profile among these files: they were read as binaries (see section 1).";
      return;
    }
    const button = element<HTMLButtonElement>("#pprof-download");
    button.disabled = true;
    this.#annotated = undefined;
    status.textContent = `Annotating ${profile.name}…`;
    try {
      this.#annotated = await annotateFile(profile, this.#findBuildId);
    } catch (error) {
      status.className = "status error";
      status.textContent = `${profile.name}: ${error instanceof Error ? error.message : String(error)}`;
      element<HTMLTableElement>("#pprof-table").hidden = true;
      return;
    } finally {
      this.showStats();
    }
    const { annotation, mappings } = this.#annotated;
    const ignored =
      others.length > 0 ? ` Ignored ${others.map((file) => file.name).join(", ")}: one profile at a time.` : "";
    status.className = "status";
    status.textContent =
      `${profile.name}: ${plural(mappings.length, "mapping")}; ${plural(annotation.filled.length, "build ID")} filled, ` +
      `${annotation.alreadySet} already set, ${annotation.skipped.length} left without.${ignored}`;
    this.#showMappings(mappings);
    button.disabled = false;
  }

  #showMappings(mappings: MappingRow[]): void {
    const table = element<HTMLTableElement>("#pprof-table");
    const body = table.tBodies[0] as HTMLTableSectionElement;
    body.replaceChildren();
    for (const mapping of mappings) {
      const row = body.insertRow();
      row.dataset.mapping = mapping.filename;
      cell(row, mapping.filename || "(no file name)", "file");
      cell(row, `${hexAddress(mapping.memoryStart)}–${hexAddress(mapping.memoryLimit)}`, "addresses");
      cell(row, "", "build-id").append(Object.assign(document.createElement("code"), { textContent: mapping.buildId }));
      const { result } = mapping;
      const text =
        result.kind === "filled" ? "filled" : result.kind === "already-set" ? "already in the profile" : result.reason;
      cell(row, text, `result ${result.kind}`);
    }
    table.hidden = false;
  }

  downloadProfile(): void {
    if (this.#annotated === undefined) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(this.#annotated.download);
    link.download = this.#annotated.downloadName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }

  async runBenchmark(keys: number): Promise<void> {
    const button = element<HTMLButtonElement>("#bench-run");
    const status = element<HTMLElement>("#bench-status");
    button.disabled = true;
    this.#bench?.cache.dispose();
    this.#bench = undefined;
    try {
      const started = performance.now();
      const result = await runBenchmark(keys, (step) => (status.textContent = `Running ${step}…`));
      this.#bench = result;
      this.#showBenchmark(result);
      status.textContent = `Done: ${keys.toLocaleString("en")} keys in ${((performance.now() - started) / 1000).toFixed(1)} s.`;
    } catch (error) {
      status.textContent = `The benchmark failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      button.disabled = false;
      this.showStats();
    }
  }

  #showBenchmark({ rows }: BenchResult): void {
    const format = (ns: number) => `${ns.toFixed(1)} ns`;
    const chart = barChart(
      rows.map((row) => ({ label: row.operation, values: [row.cacheNs, row.mapNs] })),
      ["BuildIdCache", "Map<bigint, Uint8Array>"],
      format,
      "Nanoseconds per operation, BuildIdCache against Map",
    );
    element<HTMLElement>("#bench-chart").replaceChildren(chart);
    const body = element<HTMLTableElement>("#bench-table").tBodies[0] as HTMLTableSectionElement;
    body.replaceChildren();
    for (const { operation, cacheNs, mapNs } of rows) {
      const row = body.insertRow();
      row.dataset.operation = operation;
      cell(row, operation);
      cell(row, cacheNs.toFixed(1), "num cache-ns");
      cell(row, mapNs.toFixed(1), "num map-ns");
      cell(row, `${(mapNs / cacheNs).toFixed(2)}×`, "num ratio");
    }
    element<HTMLElement>("#bench-result").hidden = false;
  }

  showStats(): void {
    const files = this.#fileCache.stats();
    const bench = this.#bench?.cache.stats();
    const rows: [string, (stats: BuildIdCacheStats) => string][] = [
      ["Entries", (s) => `${s.size.toLocaleString("en")} of ${s.capacity.toLocaleString("en")}`],
      ["Inserts", (s) => s.inserts.toLocaleString("en")],
      ["Updates", (s) => s.updates.toLocaleString("en")],
      ["Hits", (s) => s.hits.toLocaleString("en")],
      ["Misses", (s) => s.misses.toLocaleString("en")],
      ["Removals", (s) => s.removals.toLocaleString("en")],
      ["Evictions", (s) => s.evictions.toLocaleString("en")],
      ["Mean probe length", (s) => s.probeMean.toFixed(3)],
      ["Longest probe", (s) => s.probeMax.toLocaleString("en")],
      ["Index slots", (s) => s.slots.toLocaleString("en")],
      ["Memory", (s) => formatBytes(s.memoryBytes)],
    ];
    const body = element<HTMLTableElement>("#stats-table").tBodies[0] as HTMLTableSectionElement;
    body.replaceChildren();
    for (const [label, show] of rows) {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.append(th);
      cell(row, show(files), "num");
      cell(row, bench ? show(bench) : "–", "num");
    }
  }
}

function plural(count: number, noun: string): string {
  return `${count.toLocaleString("en")} ${noun}${count === 1 ? "" : "s"}`;
}

function hexAddress(address: bigint): string {
  return `0x${address.toString(16)}`;
}

/** Calls `take` with the files chosen in `input` or dropped on `zone`. */
function acceptFiles(input: HTMLInputElement, zone: HTMLElement, take: (files: File[]) => Promise<void>): void {
  input.addEventListener("change", async () => {
    const files = [...(input.files ?? [])];
    await take(files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    await take([...(event.dataTransfer?.files ?? [])]);
  });
}

/** Keys the shared demo writes, its cache's capacity, and how long the worker reads. */
const SHARED_KEYS = 1000;
const SHARED_CAPACITY = 800;
const SHARED_MS = 2000;

/** The shared demo: writes for SHARED_MS while a worker reads, then shows the worker's report. */
async function runSharedDemo(): Promise<void> {
  const status = element<HTMLElement>("#shared-status");
  const button = element<HTMLButtonElement>("#shared-run");
  if (!crossOriginIsolated) {
    status.textContent = "This page is not cross-origin isolated (COOP/COEP headers), so it has no SharedArrayBuffer.";
    return;
  }
  button.disabled = true;
  using cache = await BuildIdCache.create({ capacity: SHARED_CAPACITY, shared: true });
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./reader.ts", import.meta.url), { type: "module" });
  let report: ReaderReport | undefined;
  const finished = new Promise<void>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<ReaderReport>) => {
      report = event.data;
      status.textContent = `${report.reads} reads, ${report.hits} hits, ${report.wrong} wrong IDs, ${report.contendedMisses} contended misses`;
      if (report.done) resolve();
    };
    worker.onerror = (event) => reject(new Error(event.message));
  });
  worker.postMessage({ handle: cache.share(), keys: SHARED_KEYS, stop });
  let writes = 0;
  const until = performance.now() + SHARED_MS;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++, writes++) {
      const key = Math.floor(Math.random() * SHARED_KEYS);
      if (i % 8 === 0) cache.delete(BigInt(key));
      else cache.set(BigInt(key), sharedDemoId(key, writes));
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  Atomics.store(stop, 0, 1);
  await finished;
  worker.terminate();
  status.textContent += `; the page wrote ${writes} times`;
  status.dataset.wrong = String(report!.wrong);
  status.dataset.hits = String(report!.hits);
  button.disabled = false;
}

async function main(): Promise<void> {
  // A file dropped outside the drop zones must not navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  const page = new Page(await BuildIdCache.create({ capacity: FILE_CACHE_CAPACITY }));
  page.showStats();
  acceptFiles(element("#elf-input"), element('[data-drop="elf"]'), (files) => page.addElfFiles(files));
  acceptFiles(element("#pprof-input"), element('[data-drop="pprof"]'), (files) => page.addProfileFiles(files));
  element("#pprof-download").addEventListener("click", () => page.downloadProfile());
  element<HTMLFormElement>("#bench-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void page.runBenchmark(Number(element<HTMLSelectElement>("#bench-keys").value));
  });
  element("#shared-run").addEventListener("click", () => {
    runSharedDemo().catch((error: unknown) => {
      element("#shared-status").textContent =
        `The worker reader failed: ${error instanceof Error ? error.message : String(error)}`;
    });
  });
  document.body.dataset.ready = "true";
}

main().catch((error: unknown) => {
  const fatal = element<HTMLElement>("#fatal");
  fatal.textContent = `The page could not start: ${error instanceof Error ? error.message : String(error)}`;
  fatal.hidden = false;
});
