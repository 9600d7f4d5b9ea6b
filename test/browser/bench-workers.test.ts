// The page's benchmark in headless Chromium: each table of each side's lookups and inserts is measured in a worker of
// its own, so no timed turn follows another table's allocations in the same heap, and each table has a layout of its own.
import type { Worker } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SIDE_WORKER, TABLES } from "../../web/bench.js";
import { MORE_ROUNDS, ROUND_LIMIT } from "../../web/bench-stats.js";
import { type DemoPage, openDemoPage } from "./harness.js";

/** A run of {@link ROUNDS_HERE} rounds, on a busy machine. */
const BENCH_TIMEOUT_MS = 240_000;
/** Timed rounds of the run (`?rounds=`): every table's workers open through them as through the page's 100 and more. */
const ROUNDS_HERE = 12;

let demo: DemoPage;

beforeAll(async () => {
  demo = await openDemoPage();
});

afterAll(async () => {
  await demo?.close();
});

it(
  "runs each of the cache's and the Map's lookup and insert tables, and the memory probe, in a worker of its own, all open together through the run",
  async () => {
    const { page } = demo;
    await page.goto(`${demo.server.url}?rounds=${ROUNDS_HERE}`);
    await page.locator("body[data-ready]").waitFor();
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
    // ROUNDS_HERE rounds, and more (to ROUND_LIMIT times as many) while a row is imprecise; the page says which.
    const method = (await page.locator("#bench-method").textContent()) ?? "";
    const rounds = Number(await page.locator("#bench-result").getAttribute("data-rounds"));
    expect(rounds).toBeGreaterThanOrEqual(ROUNDS_HERE);
    expect(rounds).toBeLessThanOrEqual(ROUND_LIMIT * ROUNDS_HERE);
    expect(method).toContain(`1,024 keys, ${rounds} rounds`);
    expect(method).toContain(
      `; a run plays ${ROUNDS_HERE} rounds, then ${MORE_ROUNDS} more at a time until every row's ratio`,
    );
    expect(method).toMatch(new RegExp(`: ${rounds} rounds in \\d+ s`));
    expect(method.includes("the rows with a wider ± are known only that far")).toBe(
      (await page.locator("#bench-result").getAttribute("data-precise")) !== "true",
    );
    // Beside the table, how much of a buffer just read the caches held, from the memory probe's worker.
    expect(await page.locator("#bench-l3").textContent()).toMatch(
      /^L3 left, MiB: \d+\.\d \(the median of the rounds; /,
    );
    expect(Number(await page.locator("#bench-result").getAttribute("data-l3-mib"))).toBeGreaterThanOrEqual(0);
    const { memory, ...sides } = SIDE_WORKER;
    const parts = Object.values(sides).flatMap((side) => Object.values(side));
    expect(new Set([...parts, memory]).size).toBe(5);
    // Each part of each side built TABLES times, each in a heap of its own.
    const expected = [...parts.flatMap((name) => Array(TABLES).fill(name) as string[]), memory];
    expect((await Promise.all(names)).toSorted()).toEqual(expected.toSorted());
    // Every worker opens before any closes: a heap for each table and the probe, each ended when the run is over.
    await expect.poll(() => events).toEqual([...expected.map(() => "open"), ...expected.map(() => "close")]);
    expect(await page.locator("#bench-method").textContent()).toContain(
      "each side's lookups and inserts in workers of their own",
    );
    expect(demo.errors).toEqual([]);
  },
  BENCH_TIMEOUT_MS + 60_000,
);
