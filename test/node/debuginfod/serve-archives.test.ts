// serve over package archives it cannot read or that change after its scan: the scan goes on and
// counts them (AR15); a member whose archive changed or went is not served (AR16).
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { buildDeb, hasTool, makeStaged, type Staged } from "./archive-fixtures.js";
import { get } from "./http.js";

const tools = hasTool("dpkg-deb") && hasTool("xz");

let staged: Staged;
let root: string;

beforeAll(() => {
  if (!tools) return;
  staged = makeStaged();
  root = join(staged.tree.dir, "debs");
  mkdirSync(root);
  buildDeb(staged, join(root, "good.deb"), "xz");
  writeFileSync(join(root, "bad.deb"), "!<arch>\nnot really an ar member at all\n");
  writeFileSync(join(root, "cut.rpm"), Buffer.from([0xed, 0xab, 0xee, 0xdb, 3, 0]));
}, 120_000);

afterAll(() => {
  if (staged) rmSync(staged.tree.dir, { recursive: true, force: true });
});

describe.runIf(tools)("serve and package archives that go wrong", () => {
  it("AR15 an archive that cannot be read is counted unreadable and the scan goes on; AR16 a member of an archive changed or gone since the scan is 404", async () => {
    const index = await BuildIdIndex.create({ roots: [root] });
    const stats = await index.scan();
    expect(stats.unreadable).toBe(2);
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const id = staged.tree.programs[0]!.id;
      const status = async () => (await get(`${server.url}/buildid/${id}/executable`)).status;
      expect(await status()).toBe(200);
      const later = new Date(Date.now() + 3_600_000);
      utimesSync(join(root, "good.deb"), later, later);
      expect(await status()).toBe(404);
      expect((await index.scan()).reads).toBe(1);
      expect(await status()).toBe(200);
      rmSync(join(root, "good.deb"));
      expect(await status()).toBe(404);
    } finally {
      await server.close();
      index.dispose();
    }
  });
});
