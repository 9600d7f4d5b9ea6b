// A drop zone with a file input: takes files chosen or dropped, and says which ones it took.
import { element, messageOf, plural } from "./dom.js";

/** Names shown in full before "and N more". */
const NAMES_SHOWN = 3;

/** "a.out", "a.out, libc.so.6", or "4 files: a, b, c and 1 more". */
export function describeFiles(files: File[]): string {
  const names = files.slice(0, NAMES_SHOWN).map((file) => file.name);
  const more = files.length - names.length;
  const list = more > 0 ? `${names.join(", ")} and ${more} more` : names.join(", ");
  return files.length > NAMES_SHOWN ? `${plural(files.length, "file")}: ${list}` : list;
}

/**
 * Calls `take` with the files chosen in the zone's `input[type=file]` or dropped on `zone`,
 * and shows what was taken in the zone's `output.chosen` (the input itself is reset after each
 * choice, so choosing the same file again reads it again).
 */
export function acceptFiles(zone: HTMLElement, take: (files: File[]) => Promise<void>): void {
  const input = zone.querySelector<HTMLInputElement>("input[type=file]");
  const chosen = zone.querySelector<HTMLOutputElement>("output.chosen");
  if (!input || !chosen) throw new Error("a drop zone needs a file input and an output.chosen");
  const receive = async (files: File[], how: string) => {
    if (files.length === 0) return;
    chosen.textContent = `${how}: ${describeFiles(files)}`;
    try {
      await take(files);
    } catch (error) {
      chosen.textContent += ` (${messageOf(error)})`;
    }
  };
  input.addEventListener("change", async () => {
    const files = [...(input.files ?? [])];
    input.value = "";
    await receive(files, "Chosen");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    await receive([...(event.dataTransfer?.files ?? [])], "Dropped");
  });
}

/** Keeps files dropped outside the drop zones from navigating away from the page. */
export function cancelStrayDrops(): void {
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

/** The drop zone named `name` (`data-drop` attribute). */
export function dropZone(name: string): HTMLElement {
  return element<HTMLElement>(`[data-drop="${name}"]`);
}
