// Core files built to exhaust the reader: NT_FILE notes of millions of entries and offsets past 2^53.
// The memory bound is checked where it matters, in a child process under a V8 heap limit: a core past
// the byte budget must end in a CoreFileError, a core at the budget must read within it. Offsets in
// messages are checked against GNU readelf's rendering of the same fields.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CORE_MAPPING_BYTES,
  CORE_SEGMENT_BYTES,
  CoreFileError,
  DEFAULT_CORE_LIMITS,
  readCoreBuildIds,
} from "../../src/node/core-file.js";
import { syntheticBuildId, writeSyntheticCore } from "../helpers/core-writer.js";

const READER = fileURLToPath(new URL("../helpers/core-reader.ts", import.meta.url));
const MiB = 1024 * 1024;

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "core-limits-"));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Outcome {
  heapBefore: number;
  ms: number;
  modules?: number;
  found?: number;
  last?: string;
  name?: string;
  code?: string;
  message?: string;
}

/** Reads `core` in a child process whose V8 heap is limited to `heapMiB`; what it printed, or how it died. */
function readInChild(
  core: string,
  heapMiB: number,
  maxBytes?: number,
): Promise<{ outcome?: Outcome; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const args = [`--max-old-space-size=${heapMiB}`, "--import", "tsx", READER, core];
  if (maxBytes !== undefined) args.push(String(maxBytes));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = stdout.trim().split("\n").at(-1);
      resolve({ outcome: line ? (JSON.parse(line) as Outcome) : undefined, code, signal, stderr: stderr.slice(-2000) });
    });
  });
}

describe("a core past the memory budget", () => {
  test("4,194,304 NT_FILE entries (the default maxMappings, 146 MB): a CoreFileError LIMIT under a 1.5 GB heap, nothing read past the count", async () => {
    const entries = DEFAULT_CORE_LIMITS.maxMappings;
    const core = join(work, "core-4m");
    const { size } = await writeSyntheticCore(core, { entries });
    expect(size).toBeGreaterThan(140 * 1e6);
    const run = await readInChild(core, 1536);
    rmSync(core);
    console.log(
      `core-file-limits: ${entries} entries, ${size} bytes: ${run.outcome?.code} in ${Math.round(run.outcome?.ms ?? 0)} ms`,
    );
    expect(run, run.stderr).toMatchObject({ signal: null, code: 0 });
    expect(run.outcome).toMatchObject({
      name: "CoreFileError",
      code: "LIMIT",
      message: expect.stringContaining(`NT_FILE's ${entries} entries`),
    });
    expect(run.outcome!.message!.startsWith(`${core}: `)).toBe(true);
  }, 300_000);
});

describe("a core at the memory budget", () => {
  // Every entry a file of its own whose build ID is in the core: the most memory per entry.
  const entries = 100_000;
  let core: string;
  let need: number;

  beforeAll(async () => {
    core = join(work, "core-worst");
    const { descsz } = await writeSyntheticCore(core, { entries, headers: true });
    need = 2 * CORE_SEGMENT_BYTES + descsz + entries * CORE_MAPPING_BYTES; // two program headers, the note, its entries
  });

  test("reads every build ID within a heap of the budget plus the process's own", async () => {
    const heapMiB = Math.ceil(need / MiB) + 32;
    const run = await readInChild(core, heapMiB, need);
    console.log(
      `core-file-limits: ${entries} files, budget ${need} bytes, heap ${heapMiB} MiB: ${Math.round(run.outcome?.ms ?? 0)} ms`,
    );
    expect(run, run.stderr).toMatchObject({ signal: null, code: 0 });
    expect(run.outcome!.heapBefore).toBeLessThan(32 * MiB);
    expect(run.outcome).toMatchObject({ modules: entries, found: entries, last: syntheticBuildId(entries - 1) });
  }, 300_000);

  test("one byte less is a CoreFileError LIMIT that names the budget", async () => {
    await expect(readCoreBuildIds(core, { limits: { maxBytes: need - 1 } })).rejects.toMatchObject({
      name: "CoreFileError",
      code: "LIMIT",
      message: expect.stringContaining(`maxBytes (${need - 1} bytes`),
    });
  });

  test("program headers count against the budget before they are read", async () => {
    await expect(readCoreBuildIds(core, { limits: { maxBytes: 2 * CORE_SEGMENT_BYTES - 1 } })).rejects.toMatchObject({
      name: "CoreFileError",
      code: "LIMIT",
      message: expect.stringContaining("2 program headers need 256 bytes"),
    });
  });
});

describe("offsets of 2^53 and more print exactly", () => {
  /** A small valid core with `edit` applied to its bytes, written to `name`. */
  async function edited(name: string, edit: (v: DataView) => void): Promise<string> {
    const path = join(work, name);
    await writeSyntheticCore(path, { entries: 3 });
    const bytes = readFileSync(path);
    edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    writeFileSync(path, bytes);
    return path;
  }

  /** The number `readelf ARGS path` prints in `pattern`'s group (decimal or 0x hex), as hex. */
  function readelfHex(path: string, args: string[], pattern: RegExp): string {
    let out: string;
    try {
      out = execFileSync("readelf", [...args, path], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch (error) {
      out = (error as { stdout: string }).stdout; // readelf complains of the offset it prints, and exits 1
    }
    const match = pattern.exec(out);
    expect(match, out).not.toBeNull();
    return BigInt(match![1]!).toString(16);
  }

  test("e_phoff of 2^53 + 1", async () => {
    const path = await edited("phoff", (v) => v.setBigUint64(32, (1n << 53n) + 1n, true));
    const phoff = readelfHex(path, ["-h"], /Start of program headers:\s+(\d+)/);
    expect(phoff).toBe("20000000000001");
    const error = await readCoreBuildIds(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoreFileError);
    expect((error as Error).message).toBe(`${path}: the program headers at 0x${phoff} (1 x 56 bytes) run past the end`);
  });

  test("a PT_NOTE at offset 2^64 - 1", async () => {
    const path = await edited("note-offset", (v) => v.setBigUint64(64 + 8, (1n << 64n) - 1n, true));
    const offset = readelfHex(path, ["-lW"], /NOTE\s+(0x[0-9a-f]+)/);
    const error = await readCoreBuildIds(path).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "CoreFileError", code: "TRUNCATED" });
    expect((error as Error).message).toContain(`PT_NOTE program header 0 at 0x${offset} (`);
    expect(offset).toBe("ffffffffffffffff");
  });

  test("section header 0 at 2^60 + 1 under PN_XNUM", async () => {
    const path = await edited("shoff", (v) => {
      v.setUint16(56, 0xffff, true);
      v.setBigUint64(40, (1n << 60n) + 1n, true);
      v.setUint16(58, 64, true);
    });
    const shoff = readelfHex(path, ["-h"], /Start of section headers:\s+(\d+)/);
    await expect(readCoreBuildIds(path)).rejects.toThrow(
      new CoreFileError("TRUNCATED", `${path}: section header 0 at 0x${shoff} runs past the end`),
    );
  });
});
