// The CLI as a real process: bundled once per test run (plain node then starts it in a tenth of
// the time tsx takes), split into a chunk per command as scripts/bundle-cli.ts splits the package's
// (0.23 -> 0.17 s CPU a run on Node 20), copied into each test file's folder beside a copy of the
// debug core, and run with a timeout so a hang fails.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFile, mkdir, readdir, realpath, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Mapping, Profile, StringTable, ValueType } from "pprof-format";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** The folder test/global-setup.ts bundled the CLI into (`pkg/node/`), once for the whole run. */
    cliBundle: string;
  }
}

/** The CLI's entry in `pkg/node/`, beside its chunks and the module its scan workers run (`scan-worker.js`). */
const ENTRY = "cli.mjs";

/** Bundles `src/node/cli.ts` and the scan worker into `dir/pkg/node/` (test/global-setup.ts calls it once a run). */
export async function buildCliBundles(dir: string): Promise<void> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  await build({
    entryPoints: { cli: join(root, "src/node/cli.ts") },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    // Chunks beside the entry: their import.meta.url finds ../build/core.wasm and ./scan-worker.js as the entry's would.
    outdir: join(dir, "pkg", "node"),
    outExtension: { ".js": ".mjs" },
    chunkNames: "[name]-[hash]",
    logLevel: "error",
    // A native addon: loaded from the project's node_modules, linked beside the bundle.
    external: ["better-sqlite3"],
    // commander and cli-progress are CommonJS: give the bundle a require().
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  // The index's scan workers run a module of their own, which the CLI looks for beside itself.
  await build({
    entryPoints: [join(root, "src/node/debuginfod/scan-worker.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: join(dir, "pkg", "node", "scan-worker.js"),
    logLevel: "error",
    external: ["better-sqlite3"],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
}

/** The run's bundle folder when vitest's global setup made one; undefined outside vitest. */
function sharedBundle(): string | undefined {
  try {
    return inject("cliBundle");
  } catch {
    return undefined;
  }
}

/**
 * Puts the CLI into `dir` (the run's bundles copied, or bundled here outside vitest) and returns the
 * script to run with node.
 */
export async function bundleCli(dir: string): Promise<string> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const script = join(dir, "pkg", "node", ENTRY);
  const shared = sharedBundle();
  if (shared === undefined) await buildCliBundles(dir);
  else {
    await mkdir(join(dir, "pkg", "node"), { recursive: true });
    for (const name of await readdir(join(shared, "pkg", "node")))
      await copyFile(join(shared, "pkg", "node", name), join(dir, "pkg", "node", name));
  }
  // The CLI finds its core at ../build/core.wasm and its package.json at ../../package.json.
  await mkdir(join(dir, "pkg", "build"), { recursive: true });
  await copyFile(join(root, "build/core.debug.wasm"), join(dir, "pkg", "build", "core.wasm"));
  await copyFile(join(root, "package.json"), join(dir, "package.json"));
  await symlink(join(root, "node_modules"), join(dir, "node_modules"));
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
  /** Standard input: these bytes through a pipe, or this open descriptor (a file, /dev/zero); default none. */
  stdin?: Uint8Array | number;
  /** The working folder. */
  cwd?: string;
  /** Collect standard output as latin1, so `Buffer.from(stdout, "latin1")` gives its bytes back. */
  binaryStdout?: boolean;
  /** Variables set (or, undefined, unset) over this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/** Runs the bundled CLI `script` with `args` and collects its output. */
export function runCli(script: string, args: string[], options: RunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const stdin = options.stdin === undefined ? "ignore" : typeof options.stdin === "number" ? options.stdin : "pipe";
    const child = spawn(process.execPath, [script, ...args], {
      stdio: [stdin, "pipe", "pipe"],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
    });
    if (options.stdin instanceof Uint8Array) {
      child.stdin!.on("error", () => {}); // a CLI that refuses its input closes the pipe early
      child.stdin!.end(options.stdin);
    }
    let stdout = "";
    let stderr = "";
    child
      .stdout!.setEncoding(options.binaryStdout ? "latin1" : "utf8")
      .on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    options.started?.(child);
  });
}

/**
 * Runs the bundled CLI `script` with `args` on a pseudo-terminal `columns` wide (util-linux
 * `script`) in folder `cwd`, standard input and output both the terminal; returns its exit status
 * and what it wrote, without the terminal's carriage returns.
 */
export function runInTerminal(script: string, args: string[], columns: number, cwd?: string): Promise<CliRun> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const line = `stty cols ${columns} rows 50; exec ${[process.execPath, script, ...args].map(quote).join(" ")}`;
  return new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", line, "/dev/null"], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(cwd === undefined ? {} : { cwd }),
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stdout.replaceAll("\r\n", "\n"), stderr: "" });
    });
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
