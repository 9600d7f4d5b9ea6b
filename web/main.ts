// The demo page: one module per section, mounted in page order over the state they share (context.ts).
import { mountBenchSection } from "./bench-section.js";
import type { PageContext } from "./context.js";
import { element, messageOf } from "./dom.js";
import { mountElfSection } from "./elf-section.js";
import { FileStore } from "./file-store.js";
import { mountPerfSection } from "./perf-section.js";
import { cancelStrayDrops } from "./picker.js";
import { mountPprofSection } from "./pprof-section.js";
import { mountSharedSection } from "./shared-section.js";
import { mountStatsSection } from "./stats-section.js";

async function main(): Promise<void> {
  cancelStrayDrops();
  const files = await FileStore.create();
  const showStats = mountStatsSection(files);
  const context: PageContext = { files, showStats, addBinaries: mountElfSection(files, () => showStats()) };
  mountPprofSection(context);
  mountBenchSection(showStats);
  mountSharedSection();
  mountPerfSection();
  document.body.dataset.ready = "true";
}

main().catch((error: unknown) => {
  const fatal = element<HTMLElement>("#fatal");
  fatal.textContent = `The page could not start: ${messageOf(error)}`;
  fatal.hidden = false;
});
