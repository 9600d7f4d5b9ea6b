// Helpers for tests on live processes. Deliberately independent of src/node/: maps lines are
// split by whitespace here, and build IDs come from GNU readelf.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";

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

/** Every line of /proc/PID/maps (of thread `tid`: /proc/PID/task/TID/maps), split by whitespace. */
export function rawMaps(pid: number, tid = pid): RawMapping[] {
  return readFileSync(tid === pid ? `/proc/${pid}/maps` : `/proc/${pid}/task/${tid}/maps`, "utf8")
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

/**
 * Whether `pid`'s maps show `mappedPath` and it sleeps: the exec is done and the dynamic loader has
 * mapped the libraries (on a loaded machine the program's own mapping shows well before libc's).
 */
function settled(pid: number, mappedPath: string): true | undefined {
  return (rawMaps(pid).some((m) => m.path === mappedPath) && state(pid) === "S") || undefined;
}

/** Spawns `command`, which must block (in `sleep`, a `read`), and waits until {@link settled}. The child lives until killed. */
export async function spawnMapping(command: string, args: string[], mappedPath: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ["pipe", "ignore", "ignore"] });
  try {
    await waitFor(`${command} never mapped ${mappedPath} and slept`, () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} exited`);
      return settled(child.pid!, mappedPath);
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

/** A process whose parent never reaps it: once {@link kill}ed it stays a zombie, and its PID is nobody else's, until {@link release}. */
export interface Unreaped {
  pid: number;
  /** SIGKILL, then waits until the process is a zombie. */
  kill(): Promise<void>;
  /** Kills the process and its parent: init reaps it, and its PID is free for the next process. */
  release(): Promise<void>;
  /** The process's standard input, when spawned with `input`. */
  input: Writable | undefined;
}

/**
 * {@link spawnMapping}, but the child is a grandchild under a parent that never waits: see
 * {@link Unreaped}. With `input`, its standard input is a pipe from this process.
 */
export async function spawnUnreaped(
  command: string,
  args: string[],
  mappedPath: string,
  { input = false } = {},
): Promise<Unreaped> {
  // exec'd, the parent is `sleep`, which never calls wait(); a background job's input is /dev/null unless redirected.
  const job = input ? `exec 3<&0; "$@" <&3 &` : `"$@" &`;
  const parent = spawn("/bin/sh", ["-c", `${job} echo $!; exec ${SLEEP} infinity`, "sh", command, ...args], {
    stdio: [input ? "pipe" : "ignore", "pipe", "ignore"],
  });
  let pid = 0;
  // Until the parent is gone the PID is the child's, dead or alive: killing it cannot hit another process.
  const release = async () => {
    if (pid > 0 && parent.exitCode === null && parent.signalCode === null) process.kill(pid, "SIGKILL");
    await killAndReap(parent);
  };
  try {
    const first = await createInterface({ input: parent.stdout! })[Symbol.asyncIterator]().next();
    pid = Number(first.value);
    await waitFor(`${command} never mapped ${mappedPath} and slept`, () => {
      if (state(pid) === "Z") throw new Error(`${command} exited`);
      return settled(pid, mappedPath);
    });
  } catch (error) {
    await release();
    throw error;
  }
  const kill = async () => {
    process.kill(pid, "SIGKILL");
    await waitFor(`${pid} never became a zombie`, () => (state(pid) === "Z" ? true : undefined));
  };
  return { pid, kill, release, input: parent.stdin ?? undefined };
}

/** Field 3 of `/proc/PID/stat`: `Z` for a zombie. */
function state(pid: number): string | undefined {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2).split(" ")[0];
}

/** A PID no process can have: the kernel gives out PIDs below pid_max. */
export const ABSENT_PID = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));

/** The PID namespace's last PID given out: the next process takes the first free one above it. */
export const LAST_PID = "/proc/sys/kernel/ns_last_pid";

/** Whether {@link spawnWithPid} can work here: root, with the PID namespace's last PID writable. */
export function canSetLastPid(): boolean {
  try {
    accessSync(LAST_PID, constants.W_OK);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/**
 * A child running `command` with exactly `pid`, by setting the namespace's last PID before each try;
 * undefined if others keep taking it. The last PID is put back after: left at `pid`, every process
 * the machine starts next would take a number freed above it, other tests' exited children's among
 * them, and their resolvers would read a stranger's maps (inode-reuse.test.ts failed so in CI).
 */
export async function spawnWithPid(pid: number, command: string, args: string[]): Promise<ChildProcess | undefined> {
  const last = Number(readFileSync(LAST_PID, "utf8"));
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      writeFileSync(LAST_PID, String(pid - 1));
      const child = spawn(command, args, { stdio: ["pipe", "ignore", "ignore"] });
      if (child.pid === pid) return child;
      await killAndReap(child);
    }
    return undefined;
  } finally {
    writeFileSync(LAST_PID, String(Math.max(last, Number(readFileSync(LAST_PID, "utf8")))));
  }
}

/** Where `sleep` lives (the path its maps show). */
export const SLEEP = execFileSync(
  "readlink",
  ["-f", execFileSync("sh", ["-c", "command -v sleep"], { encoding: "utf8" }).trim()],
  {
    encoding: "utf8",
  },
).trim();
