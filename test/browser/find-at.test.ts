// BuildIdCache.findAt against getBytesAt, the lookup it skips the copy of: in Node and in Chromium, where the page calls it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdCache, CacheDisposedError } from "../../src/index.js";
import { compareFindAt, type FindAtReport } from "./find-at.js";
import { type Chromium, launchChromium, type StaticServer, serveStatic } from "./harness.js";

const SEED = Number(process.env.FIND_AT_SEED ?? Math.floor(Math.random() * 2 ** 32));
console.log(`find-at: FIND_AT_SEED=${SEED}`);

function expectSameAsGetBytesAt(report: FindAtReport): void {
  const [copied, found] = [report.answers.map(([c]) => c), report.answers.map(([, f]) => f)];
  expect(found, "findAt's lengths").toEqual(copied);
  expect(copied.some((length) => length > 0) && copied.includes(0), "both hits and misses were looked up").toBe(true);
  expect(
    report.answers.filter(([, , same]) => !same),
    "lookups where foundId differs from getBytesAt's bytes",
  ).toEqual([]);
  expect(report.kept[1], "keys kept through evictions").toBe(report.kept[0]);
  expect(report.stats[1], "counters").toBe(report.stats[0]);
  for (const [byCopy, byView] of report.refusals) {
    expect(byCopy).not.toBe("nothing thrown");
    expect(byView).toBe(byCopy);
  }
  expect(report.countersMoved, "a refused findAt moved a counter").toBe(false);
  const disposed = new CacheDisposedError();
  expect(report.disposed).toEqual([`${disposed.name}: ${disposed.message}`, 0]);
}

describe("findAt", () => {
  it("answers, marks, counts and refuses as getBytesAt does, leaving the bytes in foundId (Node)", async () => {
    expectSameAsGetBytesAt(await compareFindAt(BuildIdCache, SEED));
  });

  describe("in Chromium", () => {
    let scratch: string;
    let server: StaticServer;
    let browser: Chromium;

    beforeAll(async () => {
      scratch = await mkdtemp(join(tmpdir(), "buildid-cache-find-at-"));
      const entry = resolve(import.meta.dirname, "../../src/inline.ts");
      const check = resolve(import.meta.dirname, "find-at.ts");
      await writeFile(join(scratch, "index.html"), '<!doctype html><script type="module" src="./main.ts"></script>\n');
      await writeFile(
        join(scratch, "main.ts"),
        `import { BuildIdCache } from ${JSON.stringify(entry)};
import { compareFindAt } from ${JSON.stringify(check)};
compareFindAt(BuildIdCache, ${SEED}).then(
  (report) => (document.body.dataset.result = JSON.stringify(report)),
  (error) => (document.body.dataset.result = JSON.stringify({ error: String(error) })),
);
`,
      );
      const dist = join(scratch, "dist");
      await build({ configFile: false, root: scratch, logLevel: "silent", base: "./", build: { outDir: dist } });
      server = await serveStatic(dist);
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    });

    it("answers as getBytesAt does there too", async () => {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      const result = await page.locator("body[data-result]").getAttribute("data-result", { timeout: 60_000 });
      const report = JSON.parse(result ?? "null") as FindAtReport & { error?: string };
      expect(report.error, "what the page threw").toBeUndefined();
      expectSameAsGetBytesAt(report);
    });
  });
});
