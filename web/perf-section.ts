// Section 6: a perf.data file, its processes and the files their samples fell in, with build IDs; the pprof to download.
import type { BuildIdSource, ConversionSummary } from "../src/convert/index.js";
import { formatBytes } from "../src/index.js";
import { cell, element, make, plural } from "./dom.js";
import { acceptFiles, dropZone } from "./picker.js";
import type { ConvertedRecording } from "./recording.js";

/** A thrown value as the page shows it: the error's class, its `code` and byte `offset` where it has them. */
interface ShownError {
  name: string;
  code: string | undefined;
  offset: number | undefined;
  message: string;
}

/** The parts of `error` the page shows; see {@link ShownError}. */
function shownError(error: unknown): ShownError {
  if (!(error instanceof Error)) return { name: "Error", code: undefined, offset: undefined, message: String(error) };
  const { code, offset } = error as { code?: unknown; offset?: unknown };
  return {
    name: error.name,
    code: typeof code === "string" ? code : undefined,
    offset: typeof offset === "number" ? offset : undefined,
    message: error.message,
  };
}

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
  element<HTMLElement>("#perf-status").textContent = `${file.name}: nothing shown, the file was refused.`;
}

function describe(file: File, { summary, mode, compressed }: ConvertedRecording): string {
  const withIds = summary.files.filter((f) => f.buildId !== undefined).length;
  const processes = summary.processes.length;
  return (
    `${file.name} (${formatBytes(file.size)}, ${mode} mode${compressed ? ", zstd-compressed" : ""}, ${summary.event}): ` +
    `${plural(summary.samples, "sample")} in ${processes.toLocaleString("en")} process${processes === 1 ? "" : "es"}, ` +
    `${plural(summary.files.length, "file")}, ${withIds} with a build ID; ` +
    `${plural(summary.samplesWithBuildId, "sample")} fell in a file with a build ID.`
  );
}

/** Wires section 6: one recording at a time, converted as it streams in. */
export function mountPerfSection(): void {
  const status = element<HTMLElement>("#perf-status");
  const button = element<HTMLButtonElement>("#perf-download");
  let converted: ConvertedRecording | undefined;
  /** Counts files taken, so a slow file finishing after a newer one was taken shows nothing. */
  let taken = 0;

  const take = async (files: File[]) => {
    const [file, ...others] = files;
    if (file === undefined) return;
    const turn = ++taken;
    button.disabled = true;
    converted = undefined;
    element<HTMLElement>("#perf-error").hidden = true;
    const reading = `Reading ${file.name} (${formatBytes(file.size)})…`;
    status.textContent = reading;
    const progress = (bytesRead: number) => {
      if (turn === taken) status.textContent = `${reading} ${Math.floor((100 * bytesRead) / Math.max(1, file.size))}%`;
    };
    let result: ConvertedRecording;
    try {
      const { convertRecording } = await import("./recording.js");
      result = await convertRecording(file, progress);
    } catch (error) {
      if (turn === taken) showError(file, shownError(error));
      return;
    }
    if (turn !== taken) return;
    converted = result;
    const ignored =
      others.length > 0 ? ` Ignored ${others.map((other) => other.name).join(", ")}: one recording at a time.` : "";
    status.textContent = describe(file, result) + ignored;
    showProcesses(result.summary);
    button.disabled = false;
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
