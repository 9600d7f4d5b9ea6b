// The native tables: bench/native/harness.c linked with the core's C twin (table.c, cc -O2) or with
// absl::flat_hash_map (absl.cc, g++ -O2), compiled once per source content into a folder under tmpdir, run
// as child processes over the same keys, reading back their own timings.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { NativeId, Op } from "./results.js";

const run = promisify(execFile);
const source = (f: string) => fileURLToPath(new URL(`native/${f}`, import.meta.url));
// What pkg-config --libs absl_hash absl_raw_hash_set prints on Debian 12, for a machine without pkg-config.
const ABSL_LIBS = ["-labsl_raw_hash_set", "-labsl_hash", "-labsl_city", "-labsl_low_level_hash"];

/** Timings (ns/op, one per timed pass of the run) and checks from one `harness ops` run. */
export type NativeOps = Record<Op, number[]> & {
  check: {
    hitChecksum: number;
    hitFound: number;
    missFound: number;
    sizeAfterDelete: number;
    subsetFoundAfterDelete: number;
    sizeAfterInsert: number;
    sizeAfterChurn: number;
    churnEvictions: number;
    churnUpdates: number;
  };
  /** Bytes the table holds (index and entries; for absl everything its allocator handed out). */
  bytes: number;
};

/** Hits and ns/op of the get-or-insert loop over a Zipf stream, per capacity. */
export interface NativeZipf {
  zipf: { capacity: number; hits: number; ns: number }[];
}

/** The key lists one data file carries, as key numbers into `keys` (which holds 2 * live keys). */
export interface NativeData {
  live: number;
  keys: BigUint64Array;
  hit: Uint32Array;
  miss: Uint32Array;
  subset: Uint32Array;
  churn: number;
  zipf?: Uint32Array;
  capacities?: number[];
}

/** Compiles harness.c with table `id` into `binary`, building in `dir`. */
async function compile(id: NativeId, binary: string, dir: string): Promise<void> {
  const cc = process.env.CC ?? "cc";
  if (id === "native") {
    await run(cc, ["-O2", "-o", binary, source("table.c"), source("harness.c")]);
    return;
  }
  const cxx = process.env.CXX ?? "g++";
  const libs = await run("pkg-config", ["--libs", "absl_hash", "absl_raw_hash_set"]).then(
    ({ stdout }) => stdout.trim().split(/\s+/),
    () => ABSL_LIBS,
  );
  const harness = join(dir, "harness.o");
  const absl = join(dir, "absl.o");
  await Promise.all([
    run(cc, ["-O2", "-c", "-o", harness, source("harness.c")]),
    run(cxx, ["-O2", "-std=c++17", "-c", "-o", absl, source("absl.cc")]),
  ]);
  await run(cxx, ["-O2", "-o", binary, harness, absl, ...libs]);
}

const SOURCES: Record<NativeId, string[]> = {
  native: ["table.h", "table.c", "harness.c"],
  absl: ["table.h", "absl.cc", "harness.c"],
};

/**
 * The harness for `id`, compiled once per content of its sources and compiler names into a
 * folder under tmpdir, so repeated runs (and the tests) do not compile it again.
 */
async function cachedBinary(id: NativeId): Promise<string> {
  const hash = createHash("sha256").update(`${id} ${process.env.CC ?? "cc"} ${process.env.CXX ?? "g++"}`);
  for (const f of SOURCES[id]) hash.update(readFileSync(source(f)));
  const dir = join(tmpdir(), `buildid-bench-${id}-${hash.digest("hex").slice(0, 16)}`);
  const binary = join(dir, "harness");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, "build-"));
  try {
    await compile(id, join(work, "harness"), work);
    renameSync(join(work, "harness"), binary); // atomic: a concurrent build finds a whole binary or none
  } finally {
    rmSync(existsSync(binary) ? work : dir, { recursive: true, force: true });
  }
  return binary;
}

/** Why a build failed, in one line. */
function reason(id: NativeId, error: NodeJS.ErrnoException & { stderr?: string; cmd?: string }): string {
  const tool = id === "native" ? (process.env.CC ?? "cc") : (process.env.CXX ?? "g++");
  if (error.code === "ENOENT") return `no compiler (${error.path ?? tool}) found`;
  const stderr = error.stderr ?? "";
  if (id === "absl" && /absl\/container\/flat_hash_map\.h/.test(stderr))
    return "absl/container/flat_hash_map.h not found (apt-get install libabsl-dev)";
  return `${error.cmd?.split(" ")[0] ?? tool} failed: ${stderr.trim().split("\n")[0] ?? error.message}`;
}

/** One compiled harness, with the data files written for it in a temporary directory. */
export class NativeTable {
  /** Which table the harness is linked with. */
  readonly id: NativeId;
  readonly #dir: string;
  readonly #binary: string;
  #files = 0;

  private constructor(id: NativeId, binary: string) {
    this.id = id;
    this.#dir = mkdtempSync(join(tmpdir(), `buildid-bench-data-`));
    this.#binary = binary;
  }

  /** Compiles the harness with table `id` (or finds it compiled), or returns why it cannot (no compiler, no absl, compile error). */
  static async build(id: NativeId): Promise<NativeTable | string> {
    try {
      return new NativeTable(id, await cachedBinary(id));
    } catch (error) {
      return reason(id, error as NodeJS.ErrnoException);
    }
  }

  /** Writes a data file for the harness and returns its path. */
  write(data: NativeData): string {
    const zipf = data.zipf ?? new Uint32Array(0);
    const caps = data.capacities ?? [];
    const header = Uint32Array.of(
      data.live,
      data.hit.length,
      data.miss.length,
      data.subset.length,
      data.churn,
      zipf.length,
      caps.length,
      ...caps,
    );
    if (data.keys.length !== 2 * data.live)
      throw new RangeError(`keys must hold 2 * ${data.live} keys, got ${data.keys.length}`);
    const path = join(this.#dir, `data-${this.#files++}.bin`);
    const parts = [header, data.keys, data.hit, data.miss, data.subset, zipf];
    writeFileSync(path, Buffer.concat(parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength))));
    return path;
  }

  /** One fresh process over the data at `path`: fill, one untimed pass sequence, then timed ones (see harness.c). */
  async ops(path: string, minSamples: number, minMs: number): Promise<NativeOps> {
    return JSON.parse(await this.#run(["ops", path, String(minSamples), String(minMs)])) as NativeOps;
  }

  /** Runs the Zipf streams of the data at `path` (a table that evicts only). */
  async zipf(path: string): Promise<NativeZipf> {
    return JSON.parse(await this.#run(["zipf", path])) as NativeZipf;
  }

  async #run(args: string[]): Promise<string> {
    return (await run(this.#binary, args, { encoding: "utf8", maxBuffer: 1 << 24 })).stdout;
  }

  /** Removes the data files (the binary stays for the next run). */
  dispose(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
