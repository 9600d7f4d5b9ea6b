// Benchmark "archive": CPU time of scanArchive (decode, tar, and every ELF member's build ID) on real
// package files, beside dpkg-deb --fsys-tarfile | tar -t (decode and list only) on the same files,
// alternating, median of --runs. CPU time, not wall time: the machine is shared.
//   npx tsx bench/archive.ts [--runs N] FILE.deb...   (e.g. files from `apt-get download coreutils libc6-dbg`)
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { scanArchive } from "../src/node/debuginfod/archive.js";
import { block, table } from "./format.js";
import { median, runIfMain } from "./harness.js";

async function scanCpuMs(path: string): Promise<{ ms: number; scan: Awaited<ReturnType<typeof scanArchive>> }> {
  const before = process.cpuUsage();
  const scan = await scanArchive(path);
  const used = process.cpuUsage(before);
  return { ms: (used.user + used.system) / 1000, scan };
}

function dpkgCpuMs(path: string): number {
  const run = spawnSync(
    "/usr/bin/time",
    ["-f", "%U %S", "sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -t >/dev/null', "sh", path],
    {
      encoding: "utf8",
    },
  );
  if (run.status !== 0) throw new Error(`dpkg-deb | tar failed on ${path}: ${run.stderr}`);
  const [user, system] = run.stderr.trim().split("\n").pop()!.split(" ").map(Number);
  return (user! + system!) * 1000;
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { runs: { type: "string", default: "5" } },
    allowPositionals: true,
  });
  const runs = Number(values.runs);
  if (positionals.length === 0) throw new Error("name one or more .deb files");
  const rows: (string | number)[][] = [];
  for (const path of positionals) {
    const ours: number[] = [];
    const theirs: number[] = [];
    let last: Awaited<ReturnType<typeof scanArchive>> | undefined;
    for (let i = 0; i < runs; i++) {
      const { ms, scan } = await scanCpuMs(path);
      ours.push(ms);
      last = scan;
      theirs.push(dpkgCpuMs(path));
    }
    const a = median(ours);
    const b = median(theirs);
    rows.push([
      path.split("/").pop()!,
      last!.payload,
      (last!.expandedBytes / 1e6).toFixed(1),
      last!.members,
      last!.elves.length,
      a.toFixed(0),
      b.toFixed(0),
      (a / b).toFixed(2),
    ]);
  }
  process.stdout.write(
    `${table(block(["file", "payload", "MB out", "members", "ELF", "scanArchive ms", "dpkg-deb|tar ms", "ratio"], rows, 2))}\n`,
  );
}

runIfMain(import.meta.url, "bench:archive", main);
