// The native C reference: compiles bench/native/ with the system compiler at -O2 and runs it as
// a child process over the same keys, reading back its own timings.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SOURCES = ["table.c", "harness.c"].map((f) => fileURLToPath(new URL(`native/${f}`, import.meta.url)));

/** Timings (ns/op, one per repetition) and checks from one `harness ops` run. */
export interface NativeOps {
  hit: number[];
  miss: number[];
  delete: number[];
  insert: number[];
  churn: number[];
  check: {
    hitChecksum: number;
    hitFound: number;
    missFound: number;
    sizeAfterDelete: number;
    subsetFoundAfterDelete: number;
    sizeAfterInsert: number;
    sizeAfterChurn: number;
    churnEvictions: number;
  };
  /** Bytes of index and entries. */
  bytes: number;
}

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

/** The compiled harness in a temporary directory, with the data files written for it. */
export class NativeReference {
  readonly #dir: string;
  readonly #binary: string;
  #files = 0;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#binary = join(dir, "harness");
  }

  /** Compiles the harness, or returns why it cannot (no compiler, compile error). */
  static build(): NativeReference | string {
    const dir = mkdtempSync(join(tmpdir(), "buildid-bench-"));
    const reference = new NativeReference(dir);
    const cc = process.env.CC ?? "cc";
    try {
      execFileSync(cc, ["-O2", "-o", reference.#binary, ...SOURCES], { stdio: ["ignore", "ignore", "pipe"] });
      return reference;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === "ENOENT") return `no C compiler (${cc}) found`;
      return `${cc} -O2 failed: ${e.stderr?.toString().trim().split("\n")[0] ?? e.message}`;
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

  /** Runs every operation `reps` times over the data at `path`. */
  ops(path: string, reps: number): NativeOps {
    return JSON.parse(this.#run(["ops", path, String(reps)])) as NativeOps;
  }

  /** Runs the Zipf streams of the data at `path`. */
  zipf(path: string): NativeZipf {
    return JSON.parse(this.#run(["zipf", path])) as NativeZipf;
  }

  #run(args: string[]): string {
    return execFileSync(this.#binary, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  }

  /** Removes the binary and the data files. */
  dispose(): void {
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
