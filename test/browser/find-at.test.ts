// BuildIdCache.findAt against getBytesAt, the lookup it skips the copy of: in Node and in Chromium, where the page calls it.
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdCache, CacheDisposedError } from "../../src/index.js";
import { compareFindAt, type FindAtReport } from "./find-at.js";
import { openScratchPage, type ScratchPage } from "./harness.js";

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
    let page: ScratchPage;

    beforeAll(async () => {
      const entry = resolve(import.meta.dirname, "../../src/inline.ts");
      const check = resolve(import.meta.dirname, "find-at.ts");
      page = await openScratchPage(
        "find-at",
        `import { BuildIdCache } from ${JSON.stringify(entry)};
import { compareFindAt } from ${JSON.stringify(check)};
compareFindAt(BuildIdCache, ${SEED}).then(
  (report) => (document.body.dataset.result = JSON.stringify(report)),
  (error) => (document.body.dataset.result = JSON.stringify({ error: String(error) })),
);
`,
      );
    });

    afterAll(async () => {
      await page?.close();
    });

    it("answers as getBytesAt does there too", async () => {
      const report = (await page.result(60_000)) as FindAtReport & { error?: string };
      expect(report.error, "what the page threw").toBeUndefined();
      expectSameAsGetBytesAt(report);
    });
  });
});
