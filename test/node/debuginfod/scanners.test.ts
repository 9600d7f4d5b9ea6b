// What a scan reads, as elfutils' scanners choose it: -F (ELF files), -U (.deb, .ddeb), -R (.rpm),
// and --disable-source-scan; a kind left out is not indexed, and a rescan with fewer kinds drops it.
import { closeSync, copyFileSync, fstatSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex, type BuildIdIndexOptions } from "../../../src/node/debuginfod/build-id-index.js";
import { readSourceNames } from "../../../src/node/debuginfod/dwarf-lines.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { bundleCli, runCli } from "../../helpers/cli.js";
import { buildDeb, hasTool, stagePackage } from "./archive-fixtures.js";
import { makeTree, type Tree } from "./fixtures.js";

const tools = hasTool("dpkg-deb") && hasTool("xz");
const IDS = ["aa", "bb", "cc"].map((b) => `0123456789abcdef${b.repeat(12)}`);

let tree: Tree;
let root: string;
/** In the package only: programs 0 and 1. */
let packaged: string[];
/** A plain ELF file under the root only: program 2. */
let plain: string;

beforeAll(() => {
  if (!tools) return;
  tree = makeTree(IDS);
  root = join(tree.dir, "scanned");
  mkdirSync(join(root, "debs"), { recursive: true });
  buildDeb(stagePackage(tree), join(root, "debs", "pkg.deb"), "xz");
  plain = join(root, "prog2");
  copyFileSync(tree.programs[2]!.executable, plain);
  packaged = [IDS[0]!, IDS[1]!];
}, 120_000);

afterAll(() => {
  if (tree) rmSync(tree.dir, { recursive: true, force: true });
});

// What an index over `root` with `options` holds: the plain file's paths, and each packaged ID's member count.
async function held(options: BuildIdIndexOptions, db?: string) {
  const index = db
    ? await BuildIdIndex.open(db, { roots: [root], ...options })
    : await BuildIdIndex.create({ roots: [root], ...options });
  try {
    const stats = await index.scan();
    return {
      plain: index.lookup(IDS[2]!).map((f) => f.path),
      members: packaged.map((id) => index.members(id).length),
      excluded: stats.excluded,
    };
  } finally {
    index.dispose();
  }
}

describe.runIf(tools)("scanners", () => {
  it("reads every kind by default; -F only ELF files, -U only packages, counting what it leaves out", async () => {
    const all = await held({});
    expect(all.plain).toEqual([plain]);
    expect(all.members.every((n) => n > 0)).toBe(true);
    expect(all.excluded).toBe(0);

    const files = await held({ scanners: { files: true, deb: false, rpm: false } });
    expect(files.plain).toEqual([plain]);
    expect(files.members).toEqual([0, 0]);
    expect(files.excluded).toBe(1);

    const debs = await held({ scanners: { files: false, deb: true, rpm: false } });
    expect(debs.plain).toEqual([]);
    expect(debs.members).toEqual(all.members);
    expect(debs.excluded).toBe(1);
  });

  it("a rescan with fewer scanners drops what they no longer read", async () => {
    const db = join(mkdtempSync(join(tree.dir, "db-")), "index.sqlite");
    expect((await held({}, db)).members.every((n) => n > 0)).toBe(true);
    expect((await held({ scanners: { files: true, deb: false, rpm: false } }, db)).members).toEqual([0, 0]);
  });

  it("refuses scanners that read nothing or are not booleans, naming the value", async () => {
    await expect(BuildIdIndex.create({ scanners: { files: false, deb: false, rpm: false } })).rejects.toThrow(
      "scanners must turn on at least one of files, deb, rpm",
    );
    await expect(
      BuildIdIndex.create({ scanners: { files: "yes" } as unknown as BuildIdIndexOptions["scanners"] }),
    ).rejects.toThrow('scanners must be { files, deb, rpm } booleans, got {"files":"yes"}');
    await expect(BuildIdIndex.create({ sources: 1 as unknown as boolean })).rejects.toThrow(
      "sources must be a boolean, got 1",
    );
  });

  it("--disable-source-scan (sources: false) records no source; the default records those the DWARF names", async () => {
    const debug = tree.programs[0]!.debuginfo;
    const fd = openSync(debug, "r");
    let names: string[];
    try {
      names = [...readSourceNames(fdReader(fd), fstatSync(fd).size).sources.keys()];
    } finally {
      closeSync(fd);
    }
    const source = names.find((n) => n.startsWith(`${tree.dir}/`));
    expect(source, names.join(" ")).toBeDefined();
    for (const sources of [true, false]) {
      const index = await BuildIdIndex.create({ roots: [tree.dir], sources });
      try {
        await index.scan();
        const opened = index.openSource(IDS[0]!, source!);
        if (opened) closeSync(opened.fd);
        expect(opened !== undefined, `sources: ${sources}`).toBe(sources);
      } finally {
        index.dispose();
      }
    }
  });

  it("serve -F leaves packages out, -U reads them (the CLI's flags reach the index)", async () => {
    const cli = await bundleCli(join(tree.dir, "bundle"));
    const db = join(mkdtempSync(join(tree.dir, "cli-")), "index.sqlite");
    for (const flag of ["-F", "-U"]) {
      const r = await runCli(cli, ["serve", "--port", "0", "-t", "0", "--index", db, "--no-progress", flag, root], {
        timeoutMs: 120_000,
        started: (child) => {
          let said = "";
          child.stderr?.on("data", (d: string) => {
            said += d;
            if (/^indexed /m.test(said)) child.kill("SIGTERM");
          });
        },
      });
      expect(r.code, r.stderr).toBe(143);
      const index = await BuildIdIndex.open(db, { readonly: true });
      try {
        expect(index.members(IDS[0]!).length > 0, flag).toBe(flag === "-U");
        expect(index.lookup(IDS[2]!).length, flag).toBe(flag === "-F" ? 1 : 0);
      } finally {
        index.dispose();
      }
    }
  }, 300_000);
});
