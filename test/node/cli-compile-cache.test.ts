// The CLI keeps Node's compiled code in the user's cache folder where Node can (22.1+), and a folder
// that cannot be made changes nothing: same output, same status, nothing on standard error, no hang
// (Node's own recursive mkdir spins forever under /proc). Node 20 has no compile cache: there only the bin's
// launcher keeps V8's code cache of the data commands' bundles (src/node/launch-code-cache.ts), in a folder of its own.
// Both ways in: `src/node/cli.ts` (what `node dist/node/cli.js` runs) and, once built, the installed command
// (package.json's bin, dist/cli.cjs), whose launcher turns the cache on before it requires a data command's bundle.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import module from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const top = mkdtempSync(join(tmpdir(), "cli-compile-cache-"));
afterAll(() => rmSync(top, { recursive: true, force: true }));

const hasCompileCache = "enableCompileCache" in module;

const bin = join(
  root,
  (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { bin: Record<string, string> }).bin[
    "buildid-cache"
  ]!,
);
/** How each way in is started: node's arguments before the command's. */
const ENTRIES: [name: string, node: string[]][] = [
  ["src/node/cli.ts through tsx", ["--import", "tsx", join(root, "src/node/cli.ts")]],
];
if (existsSync(bin)) ENTRIES.push([`the bin, ${bin.slice(root.length)}`, [bin]]);
else console.log(`the bin skipped: no ${bin} (npm run build)`);

describe.each(ENTRIES)("%s", (_, entry) => {
  const keeps = hasCompileCache || entry[0] === bin;
  // Each way in its own folders: the tests below name theirs.
  const dir = mkdtempSync(join(top, "entry-"));
  /** The CLI with `args`, under `env` over this process's; a hang is killed and fails. */
  function run(args: string[], env: NodeJS.ProcessEnv) {
    const r = spawnSync(process.execPath, [...entry, ...args], {
      env: { ...process.env, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, ...env },
      encoding: "utf8",
      timeout: 600_000, // tsx compiles the CLI each run: 60 s a run at load 30
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  describe("the CLI's compile cache", () => {
    test(`is kept under $XDG_CACHE_HOME/buildid-cache (Node ${process.version}: ${keeps ? "has one" : "none, nothing made"}), and a folder that cannot be made changes nothing`, () => {
      const args = ["buildid-list", "-i", process.execPath];
      const cache = join(dir, "cache");
      const first = run(args, { XDG_CACHE_HOME: cache });
      expect(first).toMatchObject({ status: 0, signal: null, stderr: "" });
      const kept = join(cache, "buildid-cache", "node-compile-cache");
      if (keeps) {
        // One folder per Node version and user, as Node names them, with the compiled modules in it.
        const [version, ...others] = readdirSync(kept);
        expect(others).toEqual([]);
        expect(readdirSync(join(kept, version!)).length).toBeGreaterThan(0);
        expect(run(args, { XDG_CACHE_HOME: cache })).toEqual(first);
      } else expect(existsSync(kept)).toBe(false);

      const file = join(dir, "a-file");
      writeFileSync(file, "");
      for (const env of [
        { XDG_CACHE_HOME: "/proc/no-such-folder", HOME: "/proc" },
        { XDG_CACHE_HOME: "", HOME: "/proc" },
        { XDG_CACHE_HOME: file },
        { XDG_CACHE_HOME: "relative", HOME: "relative" },
      ])
        expect(run(args, env), JSON.stringify(env)).toEqual(first);
    }, 1_800_000);
  });

  describe("the CLI's compile cache is the user's alone", () => {
    const args = ["buildid-list", "-i", process.execPath];
    /** The version folders Node made in the compile cache under `cache`, none when the cache stayed off. */
    const made = (cache: string) => {
      const kept = join(cache, "buildid-cache", "node-compile-cache");
      return existsSync(kept) ? readdirSync(kept) : [];
    };

    test(`a folder another user could write, replace or link is left off; corrupt entries are compiled again (Node ${process.version}: ${keeps ? "has a cache" : "none"})`, () => {
      const expected = run(args, { XDG_CACHE_HOME: join(dir, "plain") });
      expect(expected).toMatchObject({ status: 0, signal: null, stderr: "" });

      const open = join(dir, "open");
      mkdirSync(join(open, "buildid-cache"), { recursive: true });
      chmodSync(join(open, "buildid-cache"), 0o777);
      const elsewhere = join(dir, "elsewhere");
      mkdirSync(elsewhere);
      const linked = join(dir, "linked");
      mkdirSync(linked);
      symlinkSync(elsewhere, join(linked, "buildid-cache"));
      const everyone = join(dir, "everyone");
      mkdirSync(everyone, { mode: 0o777 });
      chmodSync(everyone, 0o777);
      const refused = [open, linked, everyone];
      if (process.getuid?.() === 0) {
        const theirs = join(dir, "theirs");
        mkdirSync(join(theirs, "buildid-cache"), { recursive: true, mode: 0o700 });
        chownSync(join(theirs, "buildid-cache"), 4242, 4242);
        refused.push(theirs);
      }
      for (const cache of refused) {
        expect(run(args, { XDG_CACHE_HOME: cache }), cache).toEqual(expected);
        expect(made(cache), cache).toEqual([]);
      }
      const linkedTo = join(elsewhere, "node-compile-cache");
      expect(existsSync(linkedTo) ? readdirSync(linkedTo) : []).toEqual([]);

      // /tmp's way: written by all, with the sticky bit, so nobody else can rename what is ours in it.
      const sticky = join(dir, "sticky");
      mkdirSync(sticky);
      chmodSync(sticky, 0o1777);
      expect(run(args, { XDG_CACHE_HOME: sticky })).toEqual(expected);
      expect(made(sticky).length).toBe(keeps ? 1 : 0);

      // Every entry emptied, cut short, or with a byte changed: Node checks them and compiles again.
      for (const version of made(sticky)) {
        const folder = join(sticky, "buildid-cache", "node-compile-cache", version);
        readdirSync(folder).forEach((entry, i) => {
          const file = join(folder, entry);
          const bytes = readFileSync(file);
          if (i % 3 === 0) writeFileSync(file, "");
          else if (i % 3 === 1) writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
          else
            writeFileSync(
              file,
              bytes.map((b, k) => (k === bytes.length >> 1 ? b ^ 0xff : b)),
            );
        });
      }
      expect(run(args, { XDG_CACHE_HOME: sticky })).toEqual(expected);
    }, 1_800_000);
  });
});
