// The CLI as a real process: bundled once per test file (plain node then starts it in a tenth of
// the time tsx takes) beside a copy of the debug core, and run with a timeout so a hang fails.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFile, mkdir, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Mapping, Profile, StringTable, ValueType } from "pprof-format";

/** Bundles `src/node/cli.ts` into `dir` and returns the script to run with node. */
export async function bundleCli(dir: string): Promise<string> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const script = join(dir, "pkg", "node", "cli.mjs");
  await build({
    entryPoints: [join(root, "src/node/cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: script,
    logLevel: "error",
    // commander and cli-progress are CommonJS: give the bundle a require().
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  // The CLI finds its core at ../build/core.wasm and its package.json at ../../package.json.
  await mkdir(join(dir, "pkg", "build"), { recursive: true });
  await copyFile(join(root, "build/core.debug.wasm"), join(dir, "pkg", "build", "core.wasm"));
  await copyFile(join(root, "package.json"), join(dir, "package.json"));
  return script;
}

/** How a CLI run ended. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link runCli}. */
export interface RunOptions {
  /** Kill the CLI (SIGKILL) after this long; the run then ends with that signal. */
  timeoutMs?: number;
  /** Runs once the child is spawned (to signal it, or read its stdout yourself). */
  started?: (child: ChildProcess) => void;
  /** Run as this user. */
  uid?: number;
  gid?: number;
}

/** Runs the bundled CLI `script` with `args` and collects its output. */
export function runCli(script: string, args: string[], options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    options.started?.(child);
  });
}

const readelf = (path: string): string => {
  try {
    return execFileSync("readelf", ["-n", path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
};

/** Up to `count` distinct ELF shared objects of this machine with a build ID (real paths), sorted. */
export async function elfFiles(count: number): Promise<string[]> {
  const folder = "/usr/lib/x86_64-linux-gnu";
  const seen = new Set<string>();
  for (const name of (await readdir(folder)).sort()) {
    if (!/\.so(\.|$)/.test(name)) continue;
    const path = await realpath(join(folder, name)).catch(() => undefined);
    if (path === undefined || !(await stat(path)).isFile() || !/Build ID/.test(readelf(path))) continue;
    seen.add(path);
    if (seen.size === count) break;
  }
  return [...seen].sort();
}

/** An uncompressed pprof profile with one mapping per file of `files` (ids from `firstId`). */
export function profileOf(files: string[], firstId: number | bigint = 1): Uint8Array {
  const strings = new StringTable();
  return new Profile({
    sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") })],
    stringTable: strings,
    mapping: files.map(
      (file, i) =>
        new Mapping({
          id: BigInt(firstId) + BigInt(i),
          memoryStart: 0x10000 * (i + 1),
          memoryLimit: 0x10000 * (i + 2),
          filename: strings.dedup(file),
        }),
    ),
  }).encode();
}
