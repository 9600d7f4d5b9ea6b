// Section 6: a perf.data file, its processes and the files their samples fell in, with build IDs; the pprof to download.
import type { BuildIdSource, ConversionSummary } from "../src/convert/index.js";
import { formatBytes } from "../src/index.js";
import { cell, element, make, plural } from "./dom.js";
import type { PerfMessage, PerfRequest, ShownError } from "./perf-worker.js";
import { acceptFiles, dropZone } from "./picker.js";
import type { ConvertedRecording, ListedFile } from "./recording.js";

/** Where a build ID came from, in the page's words. */
const SOURCES: Record<BuildIdSource, string> = {
  mmap: "from the kernel's MMAP2 event (--buildid-mmap)",
  table: "from the recording's build-ID table",
  read: "read from the file",
};

/** One tbody per process: a heading row (pid, comm, samples), then a row per file and per unresolved reason. */
function showProcesses(summary: ConversionSummary): void {
  const table = element<HTMLTableElement>("#perf-table");
  for (const body of [...table.tBodies]) body.remove();
  for (const process of summary.processes) {
    const body = table.createTBody();
    body.dataset.pid = String(process.pid);
    body.dataset.comm = process.comm;
    const heading = make("th", "", "process");
    heading.scope = "rowgroup";
    heading.colSpan = 3;
    heading.append(
      make("span", `pid ${process.pid}`, "pid"),
      " ",
      make("code", process.comm || "(no command name seen)", "comm"),
      make("small", `${plural(process.samples, "sample")} in ${plural(process.files.length, "file")}`),
    );
    body.insertRow().append(heading);
    for (const { file, samples } of process.files) {
      const summaryFile = summary.files[file]!;
      const row = body.insertRow();
      row.className = "file";
      row.dataset.path = summaryFile.path;
      cell(row, summaryFile.path, "path");
      const id = cell(row, "", "build-id");
      if (summaryFile.buildId === undefined) id.append(make("small", summaryFile.reason ?? "no build ID", "reason"));
      else id.append(make("code", summaryFile.buildId), make("small", SOURCES[summaryFile.source!], "source"));
      cell(row, samples.toLocaleString("en"), "samples num").dataset.samples = String(samples);
    }
    for (const [reason, samples] of Object.entries(process.unresolved)) {
      const row = body.insertRow();
      row.className = "unresolved";
      row.dataset.reason = reason;
      cell(row, "(no file)", "path");
      cell(row, "", "build-id").append(make("small", reason, "reason"));
      cell(row, samples.toLocaleString("en"), "samples num").dataset.samples = String(samples);
    }
  }
  table.hidden = false;
}

/** Every file `perf buildid-list` lists, with its build ID and the samples that fell in it (0: mapped, never sampled). */
function showListed(listed: ListedFile[]): void {
  const table = element<HTMLTableElement>("#perf-ids");
  for (const body of [...table.tBodies]) body.remove();
  const body = table.createTBody();
  for (const { buildId, name, samples } of listed) {
    const row = body.insertRow();
    row.dataset.path = name;
    row.dataset.buildId = buildId;
    cell(row, name, "path");
    cell(row, "", "build-id").append(buildId === "" ? make("small", "none", "reason") : make("code", buildId));
    cell(row, samples.toLocaleString("en"), "samples num").dataset.samples = String(samples);
  }
  table.hidden = false;
}

/** Shows `error` as the reader or converter gave it, and clears what an earlier file showed. */
function showError(file: File, error: ShownError): void {
  const box = element<HTMLElement>("#perf-error");
  box.replaceChildren(
    make("strong", `${file.name} could not be read: `),
    make("code", error.code === undefined ? error.name : `${error.name} ${error.code}`, "error-name"),
    error.offset === undefined ? "" : ` at byte ${error.offset.toLocaleString("en")}`,
    make("small", error.message, "error-message"),
  );
  box.dataset.name = error.name;
  box.dataset.code = error.code ?? "";
  box.dataset.offset = error.offset === undefined ? "" : String(error.offset);
  box.hidden = false;
  element<HTMLTableElement>("#perf-table").hidden = true;
  element<HTMLTableElement>("#perf-ids").hidden = true;
  element<HTMLElement>("#perf-status").textContent = `${file.name}: nothing shown, the file was refused.`;
}

function describe(file: File, { summary, listed, mode, compressed }: ConvertedRecording): string {
  const withIds = summary.files.filter((f) => f.buildId !== undefined).length;
  const processes = summary.processes.length;
  return (
    `${file.name} (${formatBytes(file.size)}, ${mode} mode${compressed ? ", zstd-compressed" : ""}, ${summary.event}): ` +
    `${plural(summary.samples, "sample")} in ${processes.toLocaleString("en")} process${processes === 1 ? "" : "es"}, ` +
    `${plural(summary.files.length, "file")}, ${withIds} with a build ID; ` +
    `${plural(listed.length, "file")} in perf's build-ID list; ` +
    `${plural(summary.samplesWithBuildId, "sample")} fell in a file with a build ID.`
  );
}

/** Wires section 6: one recording at a time, converted in a worker of its own as it streams in. */
export function mountPerfSection(): void {
  const status = element<HTMLElement>("#perf-status");
  const button = element<HTMLButtonElement>("#perf-download");
  let converted: ConvertedRecording | undefined;
  /** The worker converting the latest file; a newer file ends it, so nothing it finds is shown. */
  let worker: Worker | undefined;

  const take = async (files: File[]) => {
    const [file, ...others] = files;
    if (file === undefined) return;
    worker?.terminate();
    button.disabled = true;
    converted = undefined;
    element<HTMLElement>("#perf-error").hidden = true;
    const reading = `Reading ${file.name} (${formatBytes(file.size)})…`;
    status.textContent = reading;
    const mine = new Worker(new URL("./perf-worker.ts", import.meta.url), { type: "module" });
    worker = mine;
    const finish = () => {
      mine.terminate();
      if (worker === mine) worker = undefined;
    };
    mine.onmessage = (event: MessageEvent<PerfMessage>) => {
      if (worker !== mine) return;
      const message = event.data;
      if (message.type === "progress") {
        status.textContent = `${reading} ${Math.floor((100 * message.bytesRead) / Math.max(1, file.size))}%`;
        return;
      }
      finish();
      if (message.type === "error") {
        showError(file, message.error);
        return;
      }
      converted = message.recording;
      const ignored =
        others.length > 0 ? ` Ignored ${others.map((other) => other.name).join(", ")}: one recording at a time.` : "";
      status.textContent = describe(file, converted) + ignored;
      showProcesses(converted.summary);
      showListed(converted.listed);
      button.disabled = false;
    };
    mine.onerror = (event) => {
      event.preventDefault();
      if (worker !== mine) return;
      finish();
      showError(file, {
        name: "Error",
        code: undefined,
        offset: undefined,
        message: event.message || "the worker failed",
      });
    };
    mine.postMessage({ file } satisfies PerfRequest);
  };

  acceptFiles(dropZone("perf"), take);
  button.addEventListener("click", () => {
    if (converted === undefined) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(converted.download);
    link.download = converted.downloadName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  });
}
