// 0 wrong build IDs where address spaces change under the samples, on programs built here and recorded
// by perf: a library dlclosed and another dlopened over its range (the same code at the same offsets,
// told apart only by build ID), an exec, a fork, a hundred short-lived processes, and a PID reused in a
// new PID namespace. Each recording (file mode; pipe mode with --buildid-mmap; pipe mode with the files
// read by identity) must give every dso perf's sample count and every sample perf's file offset, and
// every file the build ID readelf reads from it.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { dsoName } from "../../src/convert/build-ids.js";
import { type ConversionSummary, convertPerfData } from "../../src/convert/index.js";
import { BuildIdResolver, readBuildIdFromFile } from "../../src/node/index.js";
import { ownVdso, readVdsoAt } from "../../src/node/procfs/vdso.js";
import { recordedFileReader } from "../../src/node/recorded-files.js";
import { perfLeafOffsets, perfSamplesPerDso, profileLeaves } from "../helpers/perf-answers.js";
import { perfCannotRecord } from "../helpers/perf-tools.js";

const dir = mkdtempSync(join(tmpdir(), "convert-scenarios-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir) ?? (spawnSync("gcc", ["--version"]).status === 0 ? undefined : "no gcc");
if (cannot) console.log(`skipping the converter's scenario tests: ${cannot}`);

const SPIN = `
#include <stdint.h>
#include <time.h>
volatile uint64_t sink;
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
__attribute__((noinline)) uint64_t NAME(uint64_t n) { uint64_t x = 1; for (uint64_t i = 0; i < n; i++) x = x * 6364136223846793005ULL + i; sink = x; return x; }
static void spin(double secs) { double t0 = cpu(); while (cpu() - t0 < secs) NAME(20000); }
`;

const SOURCES: Record<string, string> = {
  "lib.c": `
#include <stdint.h>
volatile uint64_t sink;
uint64_t NAME(uint64_t n) { uint64_t x = 1; for (uint64_t i = 0; i < n; i++) x = x * 6364136223846793005ULL + i; sink = x; return x; }
`,
  "dl.c": `
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void run(const char *lib, const char *sym) {
  void *h = dlopen(lib, RTLD_NOW); if (!h) { fprintf(stderr, "%s\\n", dlerror()); exit(1); }
  uint64_t (*f)(uint64_t) = (uint64_t (*)(uint64_t)) dlsym(h, sym);
  double t0 = cpu(); while (cpu() - t0 < 0.1) f(20000);
  dlclose(h);
}
int main(int argc, char **argv) { run(argv[1], "spin_a"); run(argv[2], "spin_b"); return 0; }
`,
  "first.c": `${SPIN.replace(/NAME/g, "first_spin")}
#include <unistd.h>
int main(int argc, char **argv) { spin(0.08); execv(argv[1], argv + 1); return 127; }
`,
  "second.c": `${SPIN.replace(/NAME/g, "second_spin")}
int main(void) { spin(0.08); return 0; }
`,
  "fork.c": `${SPIN.replace(/NAME/g, "fork_spin")}
#include <sys/wait.h>
#include <unistd.h>
int main(void) { pid_t c = fork(); spin(0.08); if (c == 0) _exit(0); waitpid(c, 0, 0); spin(0.04); return 0; }
`,
  "tiny.c": `${SPIN.replace(/NAME/g, "tiny_spin")}
int main(void) { spin(0.004); return 0; }
`,
  "reuse.c": `
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
  pid_t a = fork();
  if (a == 0) { execl(argv[1], argv[1], (char *)0); _exit(127); }
  waitpid(a, 0, 0);
  for (int tries = 0; tries < 100; tries++) {
    FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (!f) { perror("ns_last_pid"); return 2; }
    fprintf(f, "%d", a - 1); fclose(f);
    pid_t b = fork();
    if (b == 0) { if (getpid() == a) execl(argv[2], argv[2], (char *)0); _exit(0); }
    waitpid(b, 0, 0);
    if (b == a) { printf("reused %d\\n", a); return 0; }
  }
  return 3;
}
`,
};

function build(): void {
  for (const [name, text] of Object.entries(SOURCES)) writeFileSync(join(dir, name), text);
  const cc = (...args: string[]) =>
    execFileSync("gcc", ["-O1", "-g", "-fno-omit-frame-pointer", ...args], { cwd: dir });
  cc(
    "-shared",
    "-fPIC",
    "-DNAME=spin_a",
    "-Wl,--build-id=0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "-o",
    "libA.so",
    "lib.c",
  );
  cc(
    "-shared",
    "-fPIC",
    "-DNAME=spin_b",
    "-Wl,--build-id=0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "-o",
    "libB.so",
    "lib.c",
  );
  cc("-o", "dl", "dl.c", "-ldl");
  for (const name of ["first", "second", "fork", "tiny", "reuse"]) cc("-o", name, `${name}.c`);
  execFileSync(
    "sh",
    [
      "-c",
      "sed 's/second_spin/third_spin/g' second.c > third.c && gcc -O1 -g -fno-omit-frame-pointer -o third third.c",
    ],
    { cwd: dir },
  );
}

/** How a scenario is recorded. */
const MODES = [
  { name: "file mode", args: [] as string[], pipe: false, read: false },
  { name: "pipe mode, --buildid-mmap", args: ["--buildid-mmap"], pipe: true, read: false },
  { name: "pipe mode, files read by identity", args: [] as string[], pipe: true, read: true },
];

const SCENARIOS = [
  {
    name: "dlclose one library, dlopen another over its range",
    command: ["./dl", `${dir}/libA.so`, `${dir}/libB.so`],
    wrap: [] as string[],
  },
  { name: "exec", command: ["./first", "./second"], wrap: [] as string[] },
  { name: "fork", command: ["./fork"], wrap: [] as string[] },
  {
    name: "100 short-lived processes",
    command: ["sh", "-c", "i=0; while [ $i -lt 100 ]; do ./tiny; i=$((i+1)); done"],
    wrap: [] as string[],
  },
  {
    name: "a PID reused (new PID namespace)",
    command: ["./reuse", "./second", "./third"],
    wrap: ["unshare", "--pid", "--fork", "--mount-proc"],
  },
];

function record(out: string, args: string[], pipe: boolean, command: string[], wrap: string[]): string | undefined {
  const perf = [
    "perf",
    "record",
    "-q",
    "-e",
    "cpu-clock",
    "-F",
    "10000",
    "-g",
    ...args,
    "-o",
    pipe ? "-" : out,
    "--",
    ...command,
  ];
  const [exe, ...rest] = [...wrap, ...perf];
  const r = pipe
    ? spawnSync("sh", ["-c", `exec "$@" > '${out}'`, "sh", exe!, ...rest], {
        cwd: dir,
        encoding: "utf8",
        timeout: 300_000,
      })
    : spawnSync(exe!, rest, { cwd: dir, encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0)
    return `${[...wrap, "perf record"].join(" ")} failed (${r.status}): ${r.stderr.trim().split("\n").slice(-2).join(" ")}`;
  return undefined;
}

/** Every file has the build ID readelf would read from it; the kernel and the vdso, this machine's. */
async function expectTrueBuildIds(summary: ConversionSummary, read: boolean, pseudoIds: Set<string>): Promise<number> {
  let checked = 0;
  for (const f of summary.files) {
    if (f.buildId === undefined) continue;
    if (f.path.startsWith("[")) {
      expect(pseudoIds.has(f.buildId), `${f.path} ${f.buildId}`).toBe(true);
      continue;
    }
    expect(f.buildId, f.path).toBe((await readBuildIdFromFile(f.path)).buildId);
    if (read) expect(f.source, f.path).toBe("read");
    checked++;
  }
  return checked;
}

describe.skipIf(cannot !== undefined)("0 wrong build IDs when address spaces change", () => {
  let resolver: BuildIdResolver;
  const pseudoIds = new Set<string>();
  beforeAll(async () => {
    build();
    resolver = await BuildIdResolver.create();
    const kernel = spawnSync("perf", ["buildid-list", "-k"], { encoding: "utf8" }).stdout.trim();
    if (kernel) pseudoIds.add(kernel);
    const vdso = await ownVdso();
    if (vdso) pseudoIds.add((await readVdsoAt("/proc/self/mem", vdso)).buildId);
  }, 300_000);
  const cases = SCENARIOS.flatMap((s) => MODES.map((m) => ({ ...s, mode: m, title: `${s.name}, ${m.name}` })));

  test.each(cases)(
    "$title",
    async ({ name, command, wrap, mode }) => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}-${mode.name.replace(/\W+/g, "-")}.data`);
      const recordedSince = Date.now();
      const failed = record(file, mode.args, mode.pipe, command, wrap);
      if (failed !== undefined && wrap.length > 0) {
        console.log(`skipped ${name}: ${failed}`);
        return;
      }
      expect(failed).toBeUndefined();
      const bytes = new Uint8Array(readFileSync(file));
      const { profile, summary } = await convertPerfData(bytes, {
        ...(mode.read ? { readBuildId: recordedFileReader(resolver, { recordedSince }) } : {}),
      });
      const asPerf = (path: string) => dsoName(path, path.startsWith("[kernel.kallsyms]") ? -1 : 0);
      const ours = profileLeaves(profile, asPerf);
      expect(Object.fromEntries(ours.files), "samples per dso").toEqual(Object.fromEntries(perfSamplesPerDso(file)));
      expect(Object.fromEntries(ours.offsets), "samples per dso and file offset").toEqual(
        Object.fromEntries(perfLeafOffsets(file)),
      );
      const checked = await expectTrueBuildIds(summary, mode.read, pseudoIds);
      const byPath = new Map(summary.files.map((f) => [f.path, f]));
      if (name.startsWith("dlclose")) {
        expect(byPath.get(join(dir, "libA.so"))?.samples).toBeGreaterThan(0);
        expect(byPath.get(join(dir, "libB.so"))?.samples).toBeGreaterThan(0);
        const events = spawnSync("perf", ["script", "--show-mmap-events", "-F", "pid", "-i", file], {
          encoding: "utf8",
        }).stdout;
        const startOf = (lib: string) =>
          new RegExp(`\\[(0x[0-9a-f]+)\\([^\\]]*\\]: r-xp \\S*/${lib}`).exec(events)?.[1];
        expect(startOf("libA.so")).toMatch(/^0x/);
        expect(startOf("libB.so"), "libB.so's code is mapped where libA.so's was").toBe(startOf("libA.so"));
      }
      if (name.startsWith("a PID")) {
        const comms = new Map<number, string[]>();
        for (const p of summary.processes) comms.set(p.pid, [...(comms.get(p.pid) ?? []), p.comm]);
        const reused = [...comms.values()].find((c) => c.includes("second") && c.includes("third"));
        expect(reused, JSON.stringify([...comms])).toBeDefined();
      }
      console.log(
        `${name}, ${mode.name}: ${summary.samples} samples, ${summary.files.length} files (${checked} build IDs checked against the files), ${summary.processes.length} processes`,
      );
    },
    600_000,
  );
});
