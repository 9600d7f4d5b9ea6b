// What the page's sections share: each section is a module with a mount function taking this.
import type { BuildIdCacheStats } from "../src/index.js";
import type { FileStore } from "./file-store.js";

/** The page's shared state and the calls one section makes into another. */
export interface PageContext {
  /** The file cache and the files read so far, by name. */
  readonly files: FileStore;
  /** Reads binaries into {@link PageContext.files} and lists them in section 1. */
  addBinaries(files: File[]): Promise<void>;
  /** Shows the counters again (section 4), with the benchmark cache's when a run gives them. */
  showStats(bench?: BuildIdCacheStats): void;
}
