// The bundled command (npm run build: dist/node/cli.js and its chunks in dist/cli/) reads Node's built-ins
// through process.getBuiltinModule, not as ES modules: Node makes a built-in's ES module by reading every
// export, and node:fs's lazy getters then load its streams, promises, watchers and readline in every run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const dist = fileURLToPath(new URL("../../dist", import.meta.url));
const cli = join(dist, "node/cli.js");
const dir = mkdtempSync(join(tmpdir(), "cli-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const built = existsSync(cli);
if (!built) console.log(`skipped: no ${cli} (npm run build)`);

describe.runIf(built)("the bundled command", () => {
  test("imports no built-in as an ES module, but for a whole namespace or a dynamic import()", () => {
    const files = [cli, ...readdirSync(join(dist, "cli")).map((f) => join(dist, "cli", f))];
    const statements = files.flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/^import\s+([^;]*?)\s+from\s*"(node:[\w/]+)"/gm)].map(
        ([, clause, id]) => `${f.slice(dist.length + 1)}: import ${clause} from ${id}`,
      ),
    );
    expect(statements.filter((s) => !/import \* as/.test(s))).toEqual([]);
  });

  test("loads no node:fs stream in a run that writes no file (buildid-list of an ELF file)", () => {
    const out = join(dir, "loaded.json");
    const preload = join(dir, "loaded.cjs");
    writeFileSync(
      preload,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify(process.moduleLoadList)));\n",
    );
    const r = spawnSync(process.execPath, ["--require", preload, cli, "buildid-list", "-i", process.execPath], {
      env: { ...process.env, LOADED_OUT: out },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(r).toMatchObject({ status: 0, stderr: "" });
    const loaded = JSON.parse(readFileSync(out, "utf8")) as string[];
    expect(loaded).not.toContain("NativeModule internal/fs/streams");
  }, 600_000);
});
