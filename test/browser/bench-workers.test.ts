// The page's benchmark in headless Chromium: each side's lookups and inserts are measured in workers of their own,
// so no timed turn follows another part's allocations in the same heap.
import type { Worker } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SIDE_WORKER } from "../../web/bench.js";
import { type DemoPage, openDemoPage } from "./harness.js";

/** At least 20 rounds and, on a busy machine, up to a minute more. */
const BENCH_TIMEOUT_MS = 240_000;

let demo: DemoPage;

beforeAll(async () => {
  demo = await openDemoPage();
});

afterAll(async () => {
  await demo?.close();
});

it(
  "runs the cache's and the Map's lookups and inserts each in a worker of its own, all open together through the run",
  async () => {
    const { page } = demo;
    const names: Promise<string>[] = [];
    const events: string[] = [];
    page.on("worker", (worker: Worker) => {
      events.push("open");
      names.push(worker.evaluate(() => self.name));
      worker.on("close", () => events.push("close"));
    });
    await page.locator("#bench-keys").selectOption("1024");
    await page.locator("#bench-run").click();
    await expect
      .poll(() => page.locator("#bench-status").textContent(), { timeout: BENCH_TIMEOUT_MS })
      .toMatch(/^(Done|The benchmark failed)/);
    expect(await page.locator("#bench-status").textContent()).toMatch(/^Done: 1,024 keys/);
    const expected = Object.values(SIDE_WORKER).flatMap((parts) => Object.values(parts));
    expect(new Set(expected).size).toBe(4);
    expect((await Promise.all(names)).toSorted()).toEqual(expected.toSorted());
    // Every part's worker opens before any closes: four heaps for one run, each ended when it is over.
    await expect.poll(() => events).toEqual([...expected.map(() => "open"), ...expected.map(() => "close")]);
    expect(await page.locator("#bench-method").textContent()).toContain(
      "each side's lookups and inserts in workers of their own",
    );
    expect(demo.errors).toEqual([]);
  },
  BENCH_TIMEOUT_MS + 60_000,
);
