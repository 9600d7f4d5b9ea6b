// Section 5: a worker reads a shared cache while the page writes it. Needs cross-origin isolation.
import { BuildIdCache } from "../src/index.js";
import { element, make, messageOf } from "./dom.js";
import type { ReaderReport } from "./reader.js";
import { sharedDemoId } from "./shared-id.js";

/** Keys the shared demo writes, its cache's capacity, and how long the worker reads. */
const SHARED_KEYS = 1000;
const SHARED_CAPACITY = 800;
const SHARED_MS = 2000;

/** The headers a server must send with the page for SharedArrayBuffer (README: "Hosting the page"). */
export const ISOLATION_HEADERS = [
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Cross-Origin-Embedder-Policy", "require-corp"],
] as const;

/** Writes for SHARED_MS while a worker reads, then shows the worker's report. */
async function runSharedDemo(status: HTMLElement, button: HTMLButtonElement): Promise<void> {
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

/** Wires section 5, or says why it cannot run here and which headers it needs. */
export function mountSharedSection(): void {
  const status = element<HTMLElement>("#shared-status");
  const button = element<HTMLButtonElement>("#shared-run");
  if (!crossOriginIsolated || typeof SharedArrayBuffer !== "function") {
    button.disabled = true;
    const notice = element<HTMLElement>("#shared-unavailable");
    notice.replaceChildren(
      "Not available here: this page is not cross-origin isolated, so the browser gives it no SharedArrayBuffer. " +
        "The server must send these headers with the page: ",
      ...ISOLATION_HEADERS.flatMap(([name, value], i) => [i > 0 ? " and " : "", make("code", `${name}: ${value}`)]),
      ". Sections 1 to 4 work without them.",
    );
    notice.hidden = false;
    return;
  }
  button.addEventListener("click", () => {
    runSharedDemo(status, button).catch((error: unknown) => {
      status.textContent = `The worker reader failed: ${messageOf(error)}`;
      button.disabled = false;
    });
  });
}
