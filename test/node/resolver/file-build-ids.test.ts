// FileBuildIds, the identity -> build ID layer on its own: by (device, inode) through candidate
// paths (another file at a path is passed over, never read as this one), from a handle the caller
// opened, and from a stat alone; answers checked against GNU readelf.
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { majorMinorOf } from "../../../src/node/identity.js";
import { FileBuildIds } from "../../../src/node/resolver/file-build-ids.js";
import { readelfBuildId, SLEEP } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-fileids-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ENV = "/usr/bin/env";

describe("lookupIdentity", () => {
  test("the first candidate that is the very file answers; a path holding another file is passed over", async () => {
    const copy = join(dir, "sleep-copy");
    copyFileSync(SLEEP, copy);
    const st = statSync(copy, { bigint: true });
    const ids = await FileBuildIds.create();
    const r = await ids.lookupIdentity({ dev: st.dev, ino: st.ino }, [ENV, join(dir, "absent"), copy]);
    expect(r).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP), path: copy, cached: false });
    const { major, minor } = majorMinorOf(st.dev);
    const again = await ids.lookupIdentity({ kind: "inode", major, minor, inode: st.ino }, [copy]);
    expect(again).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP), cached: true });
    expect(ids.stats()).toMatchObject({ reads: 1, hits: 1 });
  });

  test("no candidate is the file: missing, naming every path tried; nothing read", async () => {
    const st = statSync(SLEEP, { bigint: true });
    const ids = await FileBuildIds.create();
    const absent = join(dir, "nothing-here");
    const r = await ids.lookupIdentity({ dev: st.dev, ino: st.ino + 1n }, [SLEEP, absent]);
    expect(r).toMatchObject({ ok: false, reason: "missing", detail: `${SLEEP} is another file; ${absent}: ENOENT` });
    expect(ids.stats().reads).toBe(0);
  });

  test("bad arguments are refused with the value named", async () => {
    const ids = await FileBuildIds.create();
    await expect(ids.lookupIdentity({ dev: 1n, ino: -1n }, [])).rejects.toThrow(
      "identity.ino must be a bigint in [0, 2^64), got -1n",
    );
    await expect(ids.lookupIdentity({ dev: 1n, ino: 1n }, "x" as unknown as string[])).rejects.toThrow(
      'candidatePaths must be an array, got "x"',
    );
    await expect(ids.lookupIdentity({ kind: "pseudo" } as unknown as { dev: bigint; ino: bigint }, [])).rejects.toThrow(
      'identity must be an inode ref, got kind "pseudo"',
    );
    await expect(FileBuildIds.create({ negativeCapacity: -1 })).rejects.toThrow(
      "negativeCapacity must be an integer >= 0, got -1",
    );
  });
});

describe("lookupOpened and lookupStat", () => {
  test("a handle the caller opened is read once; its stat alone then answers, until the file changes", async () => {
    const path = join(dir, "opened");
    copyFileSync(SLEEP, path);
    const ids = await FileBuildIds.create();
    const handle = await open(path, "r");
    try {
      const st = await handle.stat({ bigint: true });
      expect(ids.lookupStat(st, path)).toBeUndefined();
      expect(await ids.lookupOpened(handle, st, path)).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP) });
      expect(ids.lookupStat(st, path)).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP), cached: true });
    } finally {
      await handle.close();
    }
    writeFileSync(path, "now a text file\n");
    expect(ids.lookupStat(statSync(path, { bigint: true }), path)).toBeUndefined();
    expect(await ids.lookupPath(path)).toMatchObject({ ok: false, reason: "not-elf", cached: false });
    expect(ids.lookupStat(statSync(path, { bigint: true }), path)).toMatchObject({
      ok: false,
      reason: "not-elf",
      cached: true,
    });
    // Both looks after the rewrite found the old entry stale; the read replaced it with a negative one.
    expect(ids.stats()).toMatchObject({ reads: 2, stale: 2, negativeEntries: 1 });
  });
});
