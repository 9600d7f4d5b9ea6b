// Helpers for tests on live processes. Deliberately independent of src/node/: maps lines are
// split by whitespace here, and build IDs come from GNU readelf.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** A maps line split by whitespace (good for paths without spaces). */
export interface RawMapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  dev: string;
  inode: string;
  path: string;
}

/** Every line of /proc/PID/maps, split by whitespace. */
export function rawMaps(pid: number): RawMapping[] {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [range, perms, offset, dev, inode, ...rest] = line.split(/\s+/);
      const [start, end] = range!.split("-");
      return {
        start: BigInt(`0x${start}`),
        end: BigInt(`0x${end}`),
        perms: perms!,
        offset: BigInt(`0x${offset}`),
        dev: dev!,
        inode: inode!,
        path: rest.join(" "),
      };
    });
}

const buildIds = new Map<string, string | null>();

/** The build ID GNU readelf prints for `path`, or null when it prints none. */
export function readelfBuildId(path: string): string | null {
  let id = buildIds.get(path);
  if (id === undefined) {
    const out = execFileSync("readelf", ["-n", path], { encoding: "utf8" });
    id = /Build ID: ([0-9a-f]+)/.exec(out)?.[1] ?? null;
    buildIds.set(path, id);
  }
  return id;
}

/** Spawns `command` and waits until its maps show `mappedPath` (the exec is done). */
export async function spawnMapping(command: string, args: string[], mappedPath: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ["pipe", "ignore", "ignore"] });
  for (let i = 0; i < 200; i++) {
    try {
      if (rawMaps(child.pid!).some((m) => m.path === mappedPath)) return child;
    } catch {}
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  throw new Error(`${command} never mapped ${mappedPath}`);
}

/** Kills `child` and waits until it is reaped. */
export async function killAndReap(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** Where `sleep` lives (the path its maps show). */
export const SLEEP = execFileSync(
  "readlink",
  ["-f", execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim()],
  {
    encoding: "utf8",
  },
).trim();
