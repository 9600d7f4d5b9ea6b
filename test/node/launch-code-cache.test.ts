// The launcher's V8 code cache of the data commands' bundles where Node has no compile cache (Node 20,
// src/node/launch-code-cache.ts): made once, read after; a bundle changed in place to the same length (which
// V8 alone would take the old cache for) runs as changed; a cache with a byte changed, emptied, a FIFO or a
// link in its place changes nothing: same output, no hang, nothing followed. Run on a copy of the bin's files.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const BUNDLES = ["cli.cjs", "cli-buildid-list.cjs", "cli-pprof.cjs", "cli-zstd-wasm.cjs"];
const built = BUNDLES.every((name) => existsSync(join(root, "dist", name)));
const ownCache = Number.parseInt(process.versions.node, 10) >= 22;
const top = mkdtempSync(join(tmpdir(), "launch-code-cache-"));
afterAll(() => rmSync(top, { recursive: true, force: true }));

describe.skipIf(!built || ownCache)(`the launcher's code cache (Node ${process.version})`, () => {
  test("is made once and read after; a bundle changed in place or a damaged cache is compiled again", () => {
    const bin = join(top, "bin");
    mkdirSync(bin);
    for (const name of BUNDLES) copyFileSync(join(root, "dist", name), join(bin, name));
    const cache = join(top, "cache");
    const run = () => {
      const r = spawnSync(process.execPath, [join(bin, "cli.cjs"), "buildid-list", "--json", "-i", process.execPath], {
        env: { ...process.env, XDG_CACHE_HOME: cache, NODE_DISABLE_COMPILE_CACHE: undefined },
        encoding: "utf8",
        timeout: 120_000,
      });
      return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    };
    const first = run();
    expect(first).toMatchObject({ status: 0, signal: null, stderr: "" });
    const [folder, ...others] = readdirSync(join(cache, "buildid-cache", "node-compile-cache"));
    expect(others).toEqual([]);
    const file = join(cache, "buildid-cache", "node-compile-cache", folder!, "cli-buildid-list.cjs");
    const made = statSync(file);
    expect(made.mode & 0o777).toBe(0o600);
    // Read, not made again: the same file (a new one is renamed over it).
    expect(run()).toEqual(first);
    expect(statSync(file).ino).toBe(made.ino);

    // The same length, another key in the JSON: V8 checks only the length.
    const bundle = join(bin, "cli-buildid-list.cjs");
    const source = readFileSync(bundle, "utf8");
    expect(source.split("name: options.input").length).toBe(2);
    writeFileSync(bundle, source.replace("name: options.input", "nAme: options.input"));
    const changed = run();
    expect(changed.stdout).toBe(first.stdout.replace('"name"', '"nAme"'));
    expect(statSync(file).ino).not.toBe(made.ino);
    expect(run()).toEqual(changed);

    const bytes = readFileSync(file);
    const damaged: [string, () => void][] = [
      [
        "a byte changed",
        () =>
          writeFileSync(
            file,
            bytes.map((b, k) => (k === bytes.length >> 1 ? b ^ 0xff : b)),
          ),
      ],
      ["cut short", () => writeFileSync(file, bytes.subarray(0, bytes.length >> 1))],
      ["emptied", () => writeFileSync(file, "")],
      ["a FIFO", () => spawnSync("mkfifo", [file])],
      ["a link", () => symlinkSync(join(top, "elsewhere"), file)],
    ];
    for (const [what, damage] of damaged) {
      rmSync(file, { force: true });
      damage();
      expect(run(), what).toEqual(changed);
      expect(statSync(file).isFile(), what).toBe(true);
      expect(existsSync(join(top, "elsewhere")), what).toBe(false);
    }
  }, 600_000);
});
