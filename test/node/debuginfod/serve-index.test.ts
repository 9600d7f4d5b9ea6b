// serve and its index database as processes: a root that is no directory is a usage error naming it;
// --index makes its folders on a fresh home; two serve processes on one database, one scanning and a
// --passive replica answering what it wrote; SIGUSR2 grooms; -X leaves out what elfutils' -X leaves out.
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleCli, type CliRun, runCli } from "../../helpers/cli.js";
import { debuginfodFind, freePort } from "./client-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const WAIT_MS = 60_000; // room for a loaded 2-core machine
const LATE_ID = `5566778899aabbcc${"ee".repeat(12)}`;

let tree: Tree;
let extra: Tree;
let cli: string;
beforeAll(async () => {
  tree = makeTree();
  extra = makeTree([LATE_ID]);
  cli = await bundleCli(join(tree.dir, "bundle"));
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
  rmSync(extra.dir, { recursive: true, force: true });
});

/** A serve process and what it printed so far. */
interface Served {
  child: ChildProcess;
  run: Promise<CliRun>;
  url: string;
  stderr(): string;
}

// Starts `serve --port 0 ARGS` with HOME at `home`; resolves once it prints its address and `ready` matches its stderr.
async function serve(args: string[], ready: RegExp, home = tree.dir): Promise<Served> {
  let child!: ChildProcess;
  let err = "";
  let out = "";
  const run = runCli(cli, ["serve", "--port", "0", ...args], {
    timeoutMs: 4 * WAIT_MS,
    started: (c) => {
      child = c;
      c.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
      c.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    },
    env: { HOME: home, XDG_CACHE_HOME: undefined, DEBUGINFOD_URLS: undefined, DEBUGINFOD_CACHE_PATH: undefined },
  });
  const deadline = Date.now() + WAIT_MS;
  while (!(/^serving (\S+)$/m.test(out) && ready.test(err))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`serve ${args.join(" ")}: not ready: ${out} ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, run, url: /^serving (\S+)$/m.exec(out)![1]!, stderr: () => err };
}

// The status `url` answers; 0 while nothing listens there.
async function status(url: string): Promise<number> {
  try {
    const r = await get(url);
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

async function until(url: string, want: number): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = await status(url);
    if (got === want || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(s: Served): Promise<CliRun> {
  s.child.kill("SIGTERM");
  return s.run;
}

describe("roots and --index", () => {
  it("a root that does not exist, or is a file, is a usage error naming it (serve and find)", async () => {
    const missing = join(tree.dir, "no-such-root");
    const serveMissing = await runCli(cli, ["serve", "--port", "0", tree.root, missing], { timeoutMs: WAIT_MS });
    expect(serveMissing.code).toBe(2);
    expect(serveMissing.stderr).toContain(`root "${missing}" cannot be scanned: ENOENT`);
    const file = tree.programs[0]!.executable;
    const serveFile = await runCli(cli, ["serve", "--port", "0", file], { timeoutMs: WAIT_MS });
    expect(serveFile.code).toBe(2);
    expect(serveFile.stderr).toContain(`root "${file}" is not a directory`);
    const find = await runCli(cli, ["find", "executable", tree.programs[0]!.id, "--root", missing], {
      timeoutMs: WAIT_MS,
    });
    expect(find.code).toBe(2);
    expect(find.stderr).toContain(`root "${missing}" cannot be scanned`);
  });

  it("--index on a fresh home makes its folders (0700) before the scan; a folder given as the file is named", async () => {
    const home = mkdtempSync(join(tree.dir, "home-"));
    const given = "~/.cache/buildid-cache/index.sqlite".replace("~", home);
    const s = await serve(["--index", given, tree.root], /^indexed 2 build IDs/m, home);
    try {
      expect(statSync(join(home, ".cache")).mode & 0o777).toBe(0o700);
      expect(statSync(join(home, ".cache", "buildid-cache")).mode & 0o777).toBe(0o700);
      expect(await status(`${s.url}/buildid/${tree.programs[0]!.id}/executable`)).toBe(200);
    } finally {
      expect((await stop(s)).code).toBe(143);
    }
    const folder = join(home, ".cache");
    const refused = await runCli(cli, ["serve", "--port", "0", "--index", folder, tree.root], { timeoutMs: WAIT_MS });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${folder}: index database refused`);
    expect(refused.stderr).not.toMatch(/\.tmp|migrating/);
    const under = "/dev/null/x/index.sqlite";
    const cannot = await runCli(cli, ["serve", "--port", "0", "--index", under, tree.root], { timeoutMs: WAIT_MS });
    expect(cannot.code).toBe(1);
    expect(cannot.stderr).toContain(`--index ${under}: cannot make its folder`);
  });
});

describe("two serve processes on one database", () => {
  it("the --passive replica answers what the scanner writes, and scans nothing itself", async () => {
    const dir = mkdtempSync(join(tree.dir, "replica-"));
    const root = join(dir, "root");
    mkdirSync(root);
    copyFileSync(tree.programs[0]!.executable, join(root, "prog0"));
    const db = join(dir, "index.sqlite");
    const scanner = await serve(["--index", db, "-t", "1", root], /^indexed 1 build IDs/m);
    const replica = await serve(["--passive", "--index", db], /^/);
    try {
      expect(await status(`${replica.url}/buildid/${tree.programs[0]!.id}/executable`)).toBe(200);
      const late = `${replica.url}/buildid/${LATE_ID}/executable`;
      expect(await status(late)).toBe(404);
      copyFileSync(extra.programs[0]!.executable, join(dir, "late.tmp"));
      renameSync(join(dir, "late.tmp"), join(root, "late"));
      expect(await until(late, 200)).toBe(200);
      const metrics = await (await get(`${replica.url}/metrics`)).text();
      expect(metrics).toMatch(/^rescans_total 0$/m);
      expect(metrics).toMatch(/^index_buildids 2$/m);
      expect(replica.stderr()).not.toMatch(/^indexed/m);
    } finally {
      expect((await stop(replica)).code).toBe(143);
      expect((await stop(scanner)).code).toBe(143);
    }
  });

  it("--passive takes no roots and needs an existing --index, each refusal naming what is wrong", async () => {
    const roots = await runCli(cli, ["serve", "--passive", "--index", join(tree.dir, "x.sqlite"), tree.root], {
      timeoutMs: WAIT_MS,
    });
    expect(roots.code).toBe(2);
    expect(roots.stderr).toContain("--passive takes no roots");
    const none = await runCli(cli, ["serve", "--passive"], { timeoutMs: WAIT_MS });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("--passive needs --index");
    const missing = join(tree.dir, "absent", "index.sqlite");
    const absent = await runCli(cli, ["serve", "--passive", "--index", missing], { timeoutMs: WAIT_MS });
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain(`${missing}: index database refused (MISSING)`);
    const regex = await runCli(cli, ["serve", "-X", "(", tree.root], { timeoutMs: WAIT_MS });
    expect(regex.code).toBe(2);
    expect(regex.stderr).toContain('--exclude must be a regular expression, got "("');
  });
});

describe("grooming", () => {
  it("SIGUSR2 drops a file gone from a root without a rescan", async () => {
    const dir = mkdtempSync(join(tree.dir, "groom-"));
    const root = join(dir, "root");
    mkdirSync(root);
    copyFileSync(tree.programs[0]!.executable, join(root, "prog0"));
    copyFileSync(tree.programs[1]!.executable, join(root, "prog1"));
    const s = await serve(["--index", join(dir, "index.sqlite"), "-t", "0", root], /^indexed 2 build IDs/m);
    try {
      rmSync(join(root, "prog1"));
      s.child.kill("SIGUSR2");
      const deadline = Date.now() + WAIT_MS;
      while (!/^groomed: 1 of 2 files gone/m.test(s.stderr()) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(s.stderr()).toMatch(/^groomed: 1 of 2 files gone/m);
      const metrics = await (await get(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/^index_buildids 1$/m);
      expect(metrics).toMatch(/^grooms_total 1$/m);
      expect(metrics).toMatch(/^rescans_total 1$/m);
    } finally {
      await stop(s);
    }
  });
});

describe("-X, as elfutils' debuginfod -X", () => {
  it("leaves out the files elfutils leaves out: debuginfo excluded, executables served, by both", async () => {
    const ours = await serve(["-X", "\\.debug$", "-t", "0", tree.root], /^indexed 2 build IDs/m);
    const port = await freePort();
    const db = join(tree.dir, `elfutils-x-${port}.sqlite`);
    const theirs = spawn(
      "debuginfod",
      ["-F", "-p", String(port), "-d", db, "-t", "0", "-g", "0", "-X", "\\.debug$", tree.root],
      { stdio: "ignore", env: { PATH: process.env.PATH, HOME: tree.dir } },
    );
    const theirUrl = `http://127.0.0.1:${port}`;
    try {
      const p = tree.programs[0]!;
      expect(await until(`${theirUrl}/buildid/${p.id}/executable`, 200)).toBe(200);
      for (const url of [ours.url, theirUrl]) {
        const home = mkdtempSync(join(tree.dir, "find-"));
        const env = { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: join(home, "cache") };
        expect((await debuginfodFind(["executable", p.id], env, home)).code, url).toBe(0);
        expect((await debuginfodFind(["debuginfo", p.id], env, home)).code, url).not.toBe(0);
      }
    } finally {
      theirs.kill("SIGTERM");
      await stop(ours);
    }
  });
});
