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

/** How long a child may take to exec or map something on a loaded machine before a test gives up. */
export const CHILD_DEADLINE_MS = Number(process.env.BIC_CHILD_DEADLINE_MS ?? 30_000);

/** Polls `probe` every 10 ms until it returns a value, or throws naming `what` after `deadlineMs` ({@link CHILD_DEADLINE_MS}). */
export async function waitFor<T>(what: string, probe: () => T | undefined, deadlineMs = CHILD_DEADLINE_MS): Promise<T> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    try {
      const value = probe();
      if (value !== undefined) return value;
    } catch {}
    if (performance.now() > deadline) throw new Error(`${what} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Spawns `command` and waits until its maps show `mappedPath` (the exec is done). The child lives until killed. */
export async function spawnMapping(command: string, args: string[], mappedPath: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ["pipe", "ignore", "ignore"] });
  try {
    await waitFor(`${command} never mapped ${mappedPath}`, () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} exited`);
      return rawMaps(child.pid!).some((m) => m.path === mappedPath) || undefined;
    });
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return child;
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
