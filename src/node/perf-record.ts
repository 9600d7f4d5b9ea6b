/**
 * Running `perf record` in pipe mode for a profiler: the arguments (`--buildid-mmap`, so the kernel
 * names each mapped file's build ID; a software clock where the CPU has no PMU), the checks made before
 * (perf_event_paranoid), and errors that say what to do when perf is missing or may not record.
 *
 * @packageDocumentation
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** perf could not be run, or may not record here; the message says how to fix it. */
export class PerfUnavailableError extends Error {
  /** Always "PerfUnavailableError". */
  override name = "PerfUnavailableError";
  /** Why: perf is not installed, the kernel forbids it, or perf record failed before recording. */
  readonly code: "ENOPERF" | "EPARANOID" | "EPERFFAILED";

  /** @param code why; @param message what happened and the fix */
  constructor(code: PerfUnavailableError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

/** The command to record cannot be run: not found (`ENOENT`, exit 127) or not executable (`EACCES`, exit 126), as a shell says. */
export class CommandNotRunnableError extends Error {
  /** Always "CommandNotRunnableError". */
  override name = "CommandNotRunnableError";

  /** @param code why; @param message the command and where it was looked for */
  constructor(
    readonly code: "ENOENT" | "EACCES",
    message: string,
  ) {
    super(message);
  }
}

/**
 * Finds `name` as `execvp` would (perf runs the command so): a name with a slash as it is, otherwise
 * the first executable regular file of that name in `path`'s directories (an empty one is the
 * working directory; glibc's default when PATH is unset). Checked before perf starts, because
 * `perf record -q` says nothing when it cannot run its workload: it exits 255 with an empty recording.
 * @throws CommandNotRunnableError when none can be run.
 */
export async function findCommand(name: string, path = process.env.PATH ?? "/bin:/usr/bin"): Promise<string> {
  const candidates = name.includes("/") ? [name] : path.split(":").map((dir) => join(dir || ".", name));
  let found: string | undefined;
  for (const file of candidates) {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    if (
      await access(file, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
    found ??= file;
  }
  if (found !== undefined) throw new CommandNotRunnableError("EACCES", `${found}: permission denied (not executable)`);
  const where = name.includes("/") ? "no such file" : `command not found in PATH (${path})`;
  throw new CommandNotRunnableError("ENOENT", `${name}: ${where}`);
}

/** What to record. */
export interface PerfRecordOptions {
  /** The perf command; default `perf`. */
  perf?: string;
  /** Samples a second (`-F`); perf's default when absent. */
  frequency?: number;
  /** Record call chains through frame pointers (`-g`). */
  callGraph?: boolean;
  /** The event (`-e`); default: perf's own (cycles) where the CPU has a PMU, `cpu-clock` otherwise. */
  event?: string;
  /** A running process to record (`-p`), instead of a command. */
  pid?: number;
  /** The command to run and record. */
  command?: readonly string[];
  /** Where procfs is mounted; default `/proc`. */
  procRoot?: string;
  /** Where sysfs is mounted; default `/sys`. */
  sysRoot?: string;
}

/** Whether the CPU has a PMU perf can count cycles with: some event source lists a cycles event. */
export async function hasCyclesPmu(sysRoot = "/sys"): Promise<boolean> {
  const root = `${sysRoot}/bus/event_source/devices`;
  const devices = await readdir(root).catch(() => [] as string[]);
  for (const device of devices) {
    const events = await readdir(`${root}/${device}/events`).catch(() => [] as string[]);
    if (events.includes("cpu-cycles") || events.includes("cpu_cycles")) return true;
  }
  return false;
}

/** `kernel.perf_event_paranoid`, or `undefined` when it cannot be read. */
export async function perfEventParanoid(procRoot = "/proc"): Promise<number | undefined> {
  const text = await readFile(`${procRoot}/sys/kernel/perf_event_paranoid`, "utf8").catch(() => undefined);
  const value = text === undefined ? Number.NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(value) ? value : undefined;
}

/** The fix for a paranoid setting that forbids this user to record. */
export function paranoidFix(value: number): string {
  return `kernel.perf_event_paranoid is ${value}, which forbids perf events to users without CAP_PERFMON: run as root, or allow them with: sudo sysctl kernel.perf_event_paranoid=2 (your own processes, user space only) or =1 (kernel frames too)`;
}

/** The message for a perf that is not installed. */
export function perfMissing(perf: string, detail: string): string {
  return `${perf} could not be run (${detail}): perf is not installed. On Debian and Ubuntu: sudo apt install linux-perf (Ubuntu: linux-tools-$(uname -r)); on Fedora: sudo dnf install perf`;
}

/**
 * Checks that this user may record (root, or `perf_event_paranoid` at most 2), then builds the
 * arguments of `perf record -o - --buildid-mmap ...`.
 * @throws PerfUnavailableError (`EPARANOID`) when the kernel forbids it.
 */
export async function perfRecordArguments(options: PerfRecordOptions): Promise<string[]> {
  const paranoid = await perfEventParanoid(options.procRoot);
  if (process.getuid?.() !== 0 && paranoid !== undefined && paranoid > 2)
    throw new PerfUnavailableError("EPARANOID", paranoidFix(paranoid));
  const event = options.event ?? ((await hasCyclesPmu(options.sysRoot)) ? undefined : "cpu-clock");
  const args = ["record", "-q", "-o", "-", "--buildid-mmap"];
  if (event !== undefined) args.push("-e", event);
  if (options.frequency !== undefined) args.push("-F", String(options.frequency));
  if (options.callGraph) args.push("-g");
  if (options.pid !== undefined) args.push("-p", String(options.pid));
  else args.push("--", ...(options.command ?? []));
  return args;
}

/** A running `perf record`, its stream, and how it ended. */
export interface RunningPerf {
  /** The perf process. */
  child: ChildProcess;
  /** Its standard output: the recording, in pipe mode, as it is made. */
  stream: AsyncIterable<Uint8Array>;
  /** Resolves when perf has exited: its status, or the signal that ended it; rejects when it could not be started. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `perf` with `args`: standard input and error are this process's (the command's own), standard output the recording. */
export function startPerf(perf: string, args: readonly string[]): RunningPerf {
  const child = spawn(perf, args, { stdio: ["inherit", "pipe", "inherit"] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT" || error.code === "EACCES"
          ? new PerfUnavailableError("ENOPERF", perfMissing(perf, error.code))
          : error,
      ),
    );
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return { child, stream: child.stdout as AsyncIterable<Uint8Array>, exited };
}
