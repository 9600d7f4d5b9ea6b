// Section 2: a pprof profile dropped with its binaries, its mappings filled from the file cache.
import { hasElfMagic } from "../src/index.js";
import type { PageContext } from "./context.js";
import { cell, element, make, messageOf, plural } from "./dom.js";
import { acceptFiles, dropZone } from "./picker.js";
import { type AnnotatedProfile, annotateFile, type MappingRow } from "./profile.js";

function hexAddress(address: bigint): string {
  return `0x${address.toString(16)}`;
}

function showMappings(mappings: MappingRow[]): void {
  const table = element<HTMLTableElement>("#pprof-table");
  const body = table.tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  for (const mapping of mappings) {
    const row = body.insertRow();
    row.dataset.mapping = mapping.filename;
    cell(row, mapping.filename || "(no file name)", "file");
    cell(row, `${hexAddress(mapping.memoryStart)}–${hexAddress(mapping.memoryLimit)}`, "addresses");
    cell(row, "", "build-id").append(make("code", mapping.buildId));
    const { result } = mapping;
    const text =
      result.kind === "filled" ? "filled" : result.kind === "already-set" ? "already in the profile" : result.reason;
    cell(row, text, `result ${result.kind}`);
  }
  table.hidden = false;
}

/** Wires section 2: binaries go to section 1 first, then the profile is annotated from the file cache. */
export function mountPprofSection(context: PageContext): void {
  const status = element<HTMLElement>("#pprof-status");
  const button = element<HTMLButtonElement>("#pprof-download");
  let annotated: AnnotatedProfile | undefined;

  const take = async (files: File[]) => {
    const isElf = await Promise.all(
      files.map(async (file) => hasElfMagic(new Uint8Array(await file.slice(0, 4).arrayBuffer()))),
    );
    await context.addBinaries(files.filter((_, i) => isElf[i]));
    const [profile, ...others] = files.filter((_, i) => !isElf[i]);
    if (profile === undefined) {
      status.textContent = "No profile among these files: they were read as binaries (see section 1).";
      return;
    }
    button.disabled = true;
    annotated = undefined;
    status.textContent = `Annotating ${profile.name}…`;
    try {
      annotated = await annotateFile(profile, context.files.findBuildId);
    } catch (error) {
      status.className = "status error";
      status.textContent = `${profile.name}: ${messageOf(error)}`;
      element<HTMLTableElement>("#pprof-table").hidden = true;
      return;
    } finally {
      context.showStats();
    }
    const { annotation, mappings } = annotated;
    const ignored =
      others.length > 0 ? ` Ignored ${others.map((file) => file.name).join(", ")}: one profile at a time.` : "";
    status.className = "status";
    status.textContent =
      `${profile.name}: ${plural(mappings.length, "mapping")}; ${plural(annotation.filled.length, "build ID")} filled, ` +
      `${annotation.alreadySet} already set, ${annotation.skipped.length} left without.${ignored}`;
    showMappings(mappings);
    button.disabled = false;
  };

  acceptFiles(dropZone("pprof"), take);
  button.addEventListener("click", () => {
    if (annotated === undefined) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(annotated.download);
    link.download = annotated.downloadName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  });
}
