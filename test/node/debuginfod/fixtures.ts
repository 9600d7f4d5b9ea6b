// A small tree of real ELF files for the reverse-index, server and client tests, built with cc and objcopy in a temp dir.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One program built three ways: linked with DWARF, stripped of it, and its split debug file. */
export interface Program {
  /** Its build ID, set with `--build-id=0x…`. */
  id: string;
  /** The executable with DWARF stripped (`objcopy --strip-debug`). */
  executable: string;
  /** Its split debug file (`objcopy --only-keep-debug`). */
  debuginfo: string;
}

/** What {@link makeTree} built. */
export interface Tree {
  /** Temp directory holding everything; the tests scan `root` under it. */
  dir: string;
  /** The root to scan: `bin/` (executables), `debug/` (debug files), plus a non-ELF file. */
  root: string;
  /** Two programs whose IDs share their first 8 bytes. */
  programs: Program[];
}

const SOURCE = `#include <stdio.h>
static int counter = 0;
int work(int n) { for (int i = 0; i < n; i++) counter += i; return counter; }
int main(int argc, char **argv) { (void)argv; printf("%d\\n", work(argc * 1000)); return 0; }
`;

/** Runs a tool and returns its standard output. */
export function run(tool: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync(tool, args, { encoding: "utf8", env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
}

/** Builds a {@link Tree} in a new temp directory; IDs share the prefix `0123456789abcdef`. */
export function makeTree(ids = [`0123456789abcdef${"aa".repeat(12)}`, `0123456789abcdef${"bb".repeat(12)}`]): Tree {
  const dir = mkdtempSync(join(tmpdir(), "buildid-debuginfod-"));
  const root = join(dir, "root");
  mkdirSync(join(root, "bin"), { recursive: true });
  mkdirSync(join(root, "debug"), { recursive: true });
  const c = join(dir, "prog.c");
  writeFileSync(c, SOURCE);
  const programs = ids.map((id, n) => {
    const full = join(dir, `prog${n}.full`);
    run("cc", ["-g", "-O1", `-Wl,--build-id=0x${id}`, "-o", full, c]);
    const debuginfo = join(root, "debug", `prog${n}.debug`);
    const executable = join(root, "bin", `prog${n}`);
    run("objcopy", ["--only-keep-debug", full, debuginfo]);
    run("objcopy", ["--strip-debug", full, executable]);
    return { id, executable, debuginfo };
  });
  writeFileSync(join(root, "bin", "README"), "not an ELF file\n");
  return { dir, root, programs };
}
