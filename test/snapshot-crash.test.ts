// Crash safety: a child saving snapshots in a loop is killed with SIGKILL at random moments; after
// every kill the file restores, and to the state the child last reported saved or the one after it.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";
import { BuildIdCache } from "../src/index.js";
import { loadSnapshotFile } from "../src/node/snapshot-file.js";
import { SEQUENCE_KEY, step } from "./helpers/crash-states.js";

const KILLS = Number(process.env.CRASH_KILLS ?? 40);
const wasm = new URL("../build/core.wasm", import.meta.url).href;
let dir: string;
let saver: string;
let exiter: string;

// One bundle per child: plain node then starts it in a tenth of the time tsx takes.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "buildid-crash-"));
  const helpers = ["snapshot-saver", "persist-exit"];
  await build({
    entryPoints: helpers.map((name) => fileURLToPath(new URL(`helpers/${name}.ts`, import.meta.url))),
    bundle: true,
    platform: "node",
    format: "esm",
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    logLevel: "error",
  });
  [saver, exiter] = helpers.map((name) => join(dir, `${name}.mjs`)) as [string, string];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  /** Last state the child reported saved (its rename had returned), or undefined. */
  lastSaved: number | undefined;
  /** States saved in this run. */
  saves: number;
}

/**
 * Starts the saver on `path` and kills it `delayMs` after its first save (or after spawning, when
 * `early`): however slow the machine, every run that is not early reaches a new state.
 */
function runAndKill(path: string, delayMs: number, early: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [saver, path, wasm], { stdio: ["ignore", "pipe", "pipe"] });
    const run: Run = { lastSaved: undefined, saves: 0 };
    let pending = "";
    let stderr = "";
    const kill = () => setTimeout(() => child.kill("SIGKILL"), delayMs);
    if (early) kill();
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        const [word, n] = line.split(" ");
        if (word === "saved") {
          if (!early && run.saves === 0) kill();
          run.lastSaved = Number(n);
          run.saves++;
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    // "close" comes after every byte the child wrote before dying has been read.
    child.on("close", (code, signal) => {
      if (signal === "SIGKILL") resolve(run);
      else reject(new Error(`saver ended by itself (code ${code}): ${stderr}`));
    });
  });
}

test(`a saver killed with SIGKILL ${KILLS} times always leaves a snapshot of a state it reached`, async () => {
  const path = join(dir, "cache.snap");
  const model = new Map<bigint, string>();
  let modelAt = 0;
  let state = 0;
  let saves = 0;
  let caughtMidSave = 0;
  const seed = Number(process.env.CRASH_SEED ?? Date.now() >>> 0);
  console.log(`crash test seed ${seed} (set CRASH_SEED to repeat it)`);
  let r = seed;
  const random = () => {
    r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
    return r / 2 ** 32;
  };
  for (let kill = 0; kill < KILLS; kill++) {
    const early = kill > 0 && random() < 0.15;
    const run = await runAndKill(path, early ? random() * 150 : random() * 40, early);
    saves += run.saves;
    const bytes = await loadSnapshotFile(path);
    if (bytes === undefined) {
      expect(state, `seed ${seed}: the snapshot file vanished`).toBe(0);
      continue;
    }
    const cache = await BuildIdCache.restore(bytes);
    cache.verify();
    const n = Number.parseInt(cache.get(SEQUENCE_KEY)!, 16);
    // The file holds the last reported save, or the one whose rename landed just before the kill.
    const floor = run.lastSaved ?? state;
    expect([floor, floor + 1], `seed ${seed}, kill ${kill}`).toContain(n);
    if (n === floor + 1) caughtMidSave++;
    while (modelAt < n) step(model, ++modelAt);
    expect(new Map(cache), `seed ${seed}, kill ${kill}: entries of state ${n}`).toEqual(model);
    state = n;
  }
  const leftovers = (await readdir(dir)).filter((name) => name.endsWith(".tmp")).length;
  console.log(
    `crash test: ${KILLS} kills, ${saves} saves, final state ${state}, ` +
      `${caughtMidSave} kills between rename and report, ${leftovers} temporary files left by kills (seed ${seed})`,
  );
  expect(state).toBeGreaterThan(0);
});

test("persist saves at process exit", async () => {
  const path = join(dir, "exit.snap");
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [exiter, path, wasm, "25"], (error) => (error ? reject(error) : resolve())),
  );
  const model = new Map<bigint, string>();
  for (let n = 1; n <= 25; n++) step(model, n);
  expect(new Map(await BuildIdCache.restore((await loadSnapshotFile(path))!))).toEqual(model);
});
