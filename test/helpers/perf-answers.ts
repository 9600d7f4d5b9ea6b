// What perf itself says about a recording, for the converter's tests: its build-ID list, its samples per
// dso (perf report), the file offset of each sample's IP in the dso perf attributes it to (perf script's
// samples against the MMAP events it prints), and samples per symbol of one dso.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Profile } from "pprof-format";
import { RecordType, readPerfData } from "../../src/perf/index.js";

function run(args: string[]): string {
  const r = spawnSync("perf", args, { encoding: "utf8", maxBuffer: 1 << 30, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`perf ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** perf's name for a temporary copy of the vdso, which differs on every run: `[vdso]` stands for it. */
export function sameVdso(name: string): string {
  return name.replace(/^\/tmp\/perf-vdso\.so-\w+$/, "[vdso]");
}

/** The lines `perf buildid-list -i` prints (`-H` with `withHits`), the vdso's temporary name as `[vdso]`. */
export function perfBuildIdLines(file: string, withHits: boolean): string[] {
  const out = run(["buildid-list", ...(withHits ? ["-H"] : []), "-i", file]);
  return out
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => `${l.slice(0, 41)}${sameVdso(l.slice(41))}`);
}

/** Samples per dso (long name) as `perf report --no-children --sort dso -n` counts them, `[unknown]` left out. */
export function perfSamplesPerDso(file: string): Map<string, number> {
  const out = run(["report", "-v", "--no-children", "--sort", "dso", "--stdio", "-n", "-g", "none", "-i", file]);
  const counts = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+(\S.*?)\s*$/.exec(line);
    if (!m || m[2] === "[unknown]") continue;
    const name = sameVdso(m[2]!);
    counts.set(name, (counts.get(name) ?? 0) + Number(m[1]));
  }
  return counts;
}

interface Map_ {
  start: bigint;
  end: bigint;
  pgoff: bigint;
  name: string;
}

/**
 * Per `dso \t offset`, the samples whose IP perf attributes to that dso at that file offset: each sample
 * of `perf script -F pid,ip,dso` is placed in the newest map of its process (children start with their
 * parent's, as FORK says) that holds the IP and names that dso, as perf prints the MMAP events; the
 * offset is `ip - start + pgoff`.
 */
export function perfLeafOffsets(file: string): Map<string, number> {
  const out = run(["script", "-F", "pid,ip,dso", "-G", "--show-mmap-events", "--show-task-events", "-i", file]);
  const maps = new Map<number, Map_[]>();
  const of = (pid: number) => {
    let list = maps.get(pid);
    if (!list) {
      list = [];
      maps.set(pid, list);
    }
    return list;
  };
  const counts = new Map<string, number>();
  for (const line of out.split("\n")) {
    let m =
      /PERF_RECORD_MMAP2? (-?\d+)\/-?\d+: \[0x([0-9a-f]+)\(0x([0-9a-f]+)\) @ (0x[0-9a-f]+|0)[^\]]*\]: \S+ (.*)$/.exec(
        line,
      );
    if (m) {
      const start = BigInt(`0x${m[2]}`);
      const name = m[5]!.startsWith("[kernel.kallsyms]") ? "[kernel.kallsyms]" : m[5]!;
      const pid = Number(m[1]) === -1 || name === "[kernel.kallsyms]" ? -1 : Number(m[1]);
      of(pid).push({ start, end: start + BigInt(`0x${m[3]}`), pgoff: BigInt(m[4]!), name });
      continue;
    }
    m = /PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)/.exec(line);
    if (m) {
      const [child, parent] = [Number(m[1]), Number(m[2])];
      if (child !== parent) maps.set(child, [...of(parent)]);
      continue;
    }
    m = /^\s*(\d+)\s+([0-9a-f]+) \((.*)\)$/.exec(line);
    if (!m || m[3] === "[unknown]") continue;
    const ip = BigInt(`0x${m[2]}`);
    const dso = sameVdso(m[3]!);
    const candidates = [...of(Number(m[1])), ...of(-1)].reverse();
    const found = candidates.find((x) => ip >= x.start && ip < x.end && sameVdso(x.name) === dso);
    if (!found) throw new Error(`no map of ${dso} holds ${ip.toString(16)} in process ${m[1]}: ${line}`);
    const key = `${dso}\t${(ip - found.start + found.pgoff).toString(16)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Samples per symbol of `dso` (its short name, as perf shows it), by `perf report --no-children --sort sym`. */
export function perfSamplesPerSymbol(file: string, dso: string): Map<string, number> {
  const out = run([
    "report",
    "--no-children",
    "--dsos",
    dso,
    "--sort",
    "sym",
    "--stdio",
    "-n",
    "-g",
    "none",
    "-i",
    file,
  ]);
  const counts = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^\s+[\d.]+%\s+(\d+)\s+\[\.\]\s+(\S+)/.exec(line);
    if (m) counts.set(m[2]!, (counts.get(m[2]!) ?? 0) + Number(m[1]));
  }
  return counts;
}

/** The same counts from our profile: per `file \t offset` of each sample's leaf, and per file, by the first value (samples). */
export function profileLeaves(
  bytes: Uint8Array,
  name: (path: string) => string,
): {
  offsets: Map<string, number>;
  files: Map<string, number>;
} {
  const p = Profile.decode(bytes);
  const strings = p.stringTable.strings;
  const mappings = new Map(p.mapping.map((m) => [Number(m.id), name(strings[Number(m.filename)]!)]));
  const locations = new Map(p.location.map((l) => [Number(l.id), l]));
  const offsets = new Map<string, number>();
  const files = new Map<string, number>();
  for (const s of p.sample) {
    const leaf = locations.get(Number(s.locationId[0]))!;
    if (Number(leaf.mappingId) === 0) continue;
    const file = mappings.get(Number(leaf.mappingId))!;
    const n = Number(s.value[0]);
    const key = `${file}\t${BigInt(leaf.address).toString(16)}`;
    offsets.set(key, (offsets.get(key) ?? 0) + n);
    files.set(file, (files.get(file) ?? 0) + n);
  }
  return { offsets, files };
}

/** The pipe-mode recording `bytes` with its COMPRESSED records replaced by the records inside them, at `out` (perf 6.1's buildid-list cannot read pipe -z). */
export function decompressedCopy(bytes: Uint8Array, out: string): string {
  const parts: Uint8Array[] = [bytes.subarray(0, 16)];
  for (const raw of readPerfData(bytes).rawRecords()) {
    if (raw.type === RecordType.COMPRESSED || raw.type === RecordType.COMPRESSED2) continue;
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint32(0, raw.type, true);
    view.setUint16(4, raw.misc, true);
    view.setUint16(6, raw.size, true);
    parts.push(header, raw.body.slice());
  }
  writeFileSync(out, Buffer.concat(parts));
  return out;
}
