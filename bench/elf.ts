// Benchmark section "elf": build IDs read per second over this machine's ELF files, by the project's
// reader (file ranges; and parsing alone), by spawning GNU readelf -n, and by the npm parsers elfy and elfinfo.
//   npx tsx bench/elf.ts [--quick] [--json] [--out DIR]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { open as elfinfoOpen } from "elfinfo";
import { ElfError, readBuildId } from "../src/elf.js";
import { readBuildIdFromFile, readBuildIdFromFileSync } from "../src/node/elf-file.js";
import { elfFiles } from "../test/helpers/elf-files.js";
import { block, count, table } from "./format.js";
import { median, onNode, runIfMain, writeResults } from "./harness.js";

/** elfy ships no types; this is the one function used. */
const elfy = createRequire(import.meta.url)("elfy") as { parse(bytes: Buffer): unknown };

const ROOTS = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec"];

/** One contender's pass over a file list. */
interface Row {
  contender: string;
  pass: "first" | "warm";
  files: number;
  /** Files a build ID was found in. */
  found: number;
  seconds: number;
  filesPerSecond: number;
  /** For a peer: our async one-at-a-time reader's warm rate on the same files over this row's rate. */
  asyncIsFaster?: number;
  /** For a peer: the same for our blocking reader. */
  syncIsFaster?: number;
}

/** Every `step`-th file, so peers that read whole files run on a sample spread over the list. */
function sample(files: readonly string[], size: number): string[] {
  const step = Math.max(1, Math.floor(files.length / size));
  return files.filter((_, i) => i % step === 0).slice(0, size);
}

/** The GNU build ID among the notes in `data` (the peers' note walk; they do not decode notes themselves). */
function gnuBuildId(data: Uint8Array, le: boolean, align: number): string | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const a = align === 8 ? 8 : 4;
  for (let at = 0; at + 12 <= data.length; ) {
    const namesz = view.getUint32(at, le);
    const descsz = view.getUint32(at + 4, le);
    const desc = at + Math.ceil((12 + namesz) / a) * a;
    if (desc + descsz > data.length) return undefined;
    if (
      view.getUint32(at + 8, le) === 3 &&
      namesz === 4 &&
      view.getUint32(at + 12, false) === 0x474e5500 &&
      descsz > 0
    ) {
      return Buffer.from(data.subarray(desc, desc + descsz)).toString("hex");
    }
    at += Math.ceil((desc - at + descsz) / a) * a;
  }
  return undefined;
}

type Reader = (file: string) => Promise<string | undefined>;

const oursSync: Reader = async (file) => {
  try {
    return readBuildIdFromFileSync(file).buildId;
  } catch (e) {
    if (e instanceof ElfError) return undefined;
    throw e;
  }
};

const ours: Reader = async (file) => {
  try {
    return (await readBuildIdFromFile(file)).buildId;
  } catch (e) {
    if (e instanceof ElfError) return undefined;
    throw e;
  }
};

interface ElfyPart {
  type: string;
  align?: number;
  addralign?: number;
  data: Buffer;
}

const elfyReader: Reader = async (file) => {
  const elf = elfy.parse(readFileSync(file)) as {
    endian: string;
    body: { programs: ElfyPart[]; sections: ElfyPart[] };
  };
  const le = elf.endian === "lsb";
  for (const part of [...elf.body.programs, ...elf.body.sections]) {
    if (part.type !== "note") continue;
    const id = gnuBuildId(part.data, le, Number(part.align ?? part.addralign ?? 4));
    if (id) return id;
  }
  return undefined;
};

const elfinfoReader: Reader = async (file) => {
  const { elf } = await elfinfoOpen(file);
  if (!elf) return undefined;
  const le = elf.data === 1;
  const areas = [
    ...elf.segments.filter((s) => s.type === 4).map((s) => ({ offset: s.offset, size: s.filesz, align: s.align })),
    ...elf.sections.filter((s) => s.type === 7).map((s) => ({ offset: s.offset, size: s.size, align: s.addralign })),
  ];
  const handle = await open(file, "r");
  try {
    for (const area of areas) {
      const data = new Uint8Array(Number(area.size));
      await handle.read(data, 0, data.length, Number(area.offset));
      const id = gnuBuildId(data, le, Number(area.align));
      if (id) return id;
    }
  } finally {
    await handle.close();
  }
  return undefined;
};

const BUILD_ID_LINE = /^\s+Build ID: ([0-9a-f]+)\s*$/m;

const readelfEach: Reader = async (file) => {
  const r = spawnSync("readelf", ["-n", file], {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C" },
    maxBuffer: 64 << 20,
  });
  return BUILD_ID_LINE.exec(r.stdout)?.[1];
};

/** readelf -n on batches of 200 files: one process per batch, IDs split out by its `File:` headers. */
async function readelfBatched(files: readonly string[]): Promise<number> {
  let found = 0;
  for (let i = 0; i < files.length; i += 200) {
    const r = spawnSync("readelf", ["-n", ...files.slice(i, i + 200)], {
      encoding: "utf8",
      env: { ...process.env, LC_ALL: "C" },
      maxBuffer: 256 << 20,
    });
    for (const part of r.stdout.split(/^File: /m)) if (BUILD_ID_LINE.test(part)) found++;
  }
  return found;
}

/** Runs `read` over `files` with `parallel` reads in flight; returns how many found a build ID. */
async function pass(files: readonly string[], read: Reader, parallel: number): Promise<number> {
  let next = 0;
  let found = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      if ((await read(files[next++] as string)) !== undefined) found++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return found;
}

async function timed(
  contender: string,
  passKind: Row["pass"],
  files: readonly string[],
  run: () => Promise<number>,
  reps: number,
): Promise<Row> {
  const times: number[] = [];
  let found = 0;
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    found = await run();
    times.push((performance.now() - start) / 1000);
  }
  const seconds = median(times);
  return { contender, pass: passKind, files: files.length, found, seconds, filesPerSecond: files.length / seconds };
}

/** Parsing alone: each file is read into memory untimed, then `readBuildId` is timed, best of five batches per file. */
function parseOnly(files: readonly string[], batch: number): Row {
  let seconds = 0;
  let found = 0;
  const parse = (bytes: Uint8Array): boolean => {
    try {
      readBuildId(bytes);
      return true;
    } catch (e) {
      if (!(e instanceof ElfError)) throw e;
      return false;
    }
  };
  for (const file of files) {
    const bytes = readFileSync(file);
    if (parse(bytes)) found++;
    let best = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 5; round++) {
      const start = performance.now();
      for (let r = 0; r < batch; r++) parse(bytes);
      best = Math.min(best, (performance.now() - start) / batch);
    }
    seconds += best / 1000;
  }
  const contender = "buildid-cache readBuildId, parse only (bytes in memory)";
  return { contender, pass: "warm", files: files.length, found, seconds, filesPerSecond: files.length / seconds };
}

function rowsTable(rows: readonly Row[]): string {
  const head = ["contender", "pass", "files", "found", "seconds", "IDs/s", "async faster", "sync faster"];
  const body = rows.map((r) => [
    r.contender,
    r.pass,
    r.files,
    r.found,
    r.seconds.toFixed(4),
    count(Math.round(r.filesPerSecond)),
    r.asyncIsFaster === undefined ? "" : `${r.asyncIsFaster.toFixed(1)}x`,
    r.syncIsFaster === undefined ? "" : `${r.syncIsFaster.toFixed(1)}x`,
  ]);
  return table(block(head, body, 2));
}

/** The "elf" benchmark section; `--quick` runs on a small sample, `--json` also prints the results as JSON, `--out DIR` for elf.json. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: "boolean" }, json: { type: "boolean" }, out: { type: "string" } },
    strict: false,
  });
  const quick = values.quick === true;
  const all = [...new Set([...elfFiles(ROOTS), process.execPath])];
  const files = quick ? sample(all, 150) : all;
  const peers = sample(files, quick ? 40 : 300);
  const reps = quick ? 1 : 3;
  console.log(
    `elf: ${all.length} ELF files under ${ROOTS.join(" ")}; ours reads ${files.length}, the peers samples of them`,
  );

  const rows: Row[] = [];
  const sequential = (list: readonly string[]) =>
    timed("buildid-cache readBuildIdFromFile, one at a time", "warm", list, () => pass(list, ours, 1), reps);
  const blocking = (list: readonly string[]) =>
    timed("buildid-cache readBuildIdFromFileSync", "warm", list, () => pass(list, oursSync, 1), reps);
  /** A peer's row, with our readers timed on the same files just before it. */
  const peer = async (
    contender: string,
    list: readonly string[],
    run: () => Promise<number>,
    peerReps = reps,
  ): Promise<Row> => {
    const [viaAsync, viaSync] = [await sequential(list), await blocking(list)];
    const row = await timed(contender, "warm", list, run, peerReps);
    return {
      ...row,
      asyncIsFaster: viaAsync.filesPerSecond / row.filesPerSecond,
      syncIsFaster: viaSync.filesPerSecond / row.filesPerSecond,
    };
  };
  // Runs first, right after the walk: only the walk's 4-byte magic reads have touched these files in this process.
  rows.push(
    await timed("buildid-cache readBuildIdFromFile, 16 in flight", "first", files, () => pass(files, ours, 16), 1),
  );
  rows.push(
    await timed("buildid-cache readBuildIdFromFile, 16 in flight", "warm", files, () => pass(files, ours, 16), reps),
  );
  rows.push(await sequential(files));
  rows.push(await blocking(files));
  rows.push(
    await parseOnly(
      files.filter((_, i) => i % 4 === 0),
      quick ? 5 : 20,
    ),
  );
  const readelf = spawnSync("readelf", ["--version"], { encoding: "utf8" });
  if (!readelf.error) {
    rows.push(await peer("readelf -n, one process per file", peers, () => pass(peers, readelfEach, 1), 1));
    rows.push(await peer("readelf -n, 200 files per process", peers, () => readelfBatched(peers)));
  } else {
    console.log(`elf: readelf rows skipped: ${readelf.error.message}`);
  }
  rows.push(await peer("elfy parse (whole file read) + note walk", peers, () => pass(peers, elfyReader, 1)));
  const slow = sample(peers, quick ? 5 : 12); // elfinfo also reads every symbol table: seconds per large file
  rows.push(await peer("elfinfo open + note read", slow, () => pass(slow, elfinfoReader, 1), 1));

  console.log(`\n${onNode("ELF build-ID readers")}\n${rowsTable(rows)}`);
  console.log(
    "\nfirst: the first pass in this process (no page cache is dropped; the walk read each file's first 4 bytes).",
  );
  console.log(
    "warm: median of repeated passes. 'async/sync faster': the rate of our one-at-a-time async (or blocking) reader",
  );
  console.log("on the same files, timed just before the peer, over the peer's rate.");

  const results = {
    machine: {
      node: process.version,
      cpus: cpus().length,
      readelf: readelf.stdout?.split("\n")[0] ?? null,
      date: new Date().toISOString(),
      quick,
    },
    elfFiles: all.length,
    rows,
  };
  const out = typeof values.out === "string" ? values.out : undefined;
  console.log(`\njson: ${writeResults(out, { "elf.json": `${JSON.stringify(results, null, 2)}\n` }).join("")}`);
  if (values.json === true) process.stdout.write(`${JSON.stringify(results)}\n`);
}

runIfMain(import.meta.url, "bench:elf", main);
