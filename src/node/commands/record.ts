/**
 * `record [-F HZ] [-g] (-p PID | -- CMD ARGS...) -o OUT.pb.gz`: a profiler. Runs `perf record -o -
 * --buildid-mmap`, converts its stream as it arrives (memory bounded by distinct stacks, not samples),
 * and writes a pprof profile whose every mapping carries its build ID. Ctrl-C (or SIGTERM) stops perf,
 * which stops the command; the profile is still written. The exit status is the command's.
 *
 * @packageDocumentation
 */
import { statSync } from "node:fs";
import { constants } from "node:os";
import type { Command } from "commander";
import { convertPerfData } from "../../convert/convert.js";
import { PerfDataError } from "../../perf/errors.js";
import { PerfMapNames, perfMapReport, perfMapSummary } from "../perf-map.js";
import {
  findCommand,
  PerfUnavailableError,
  paranoidFix,
  perfEventParanoid,
  perfRecordArguments,
  startPerf,
} from "../perf-record.js";
import { recordedFileReader } from "../recorded-files.js";
import { BuildIdResolver } from "../resolver/resolver.js";
import { conversionReport } from "./conversion-report.js";
import { withHelpSections } from "./help.js";
import { requireProcess } from "./live-process.js";
import { writeProfileTo } from "./pprof.js";
import {
  COMMON_EXITS,
  type CommandContext,
  EXIT,
  integerOption,
  jsonText,
  STANDARD_STREAM,
  UsageError,
} from "./shared.js";
import { refuseBinaryToTerminal } from "./standard-streams.js";

interface RecordOptions {
  output: string;
  freq?: number;
  g?: boolean;
  event?: string;
  pid?: number;
  perf: string;
  proc: string;
  json?: boolean;
}

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Adds `record` to `program` and returns it. */
export function registerRecord(program: Command, context: CommandContext): Command {
  const command = program
    .command("record")
    .summary("profile a command or a process with perf into a pprof profile with build IDs")
    .description(
      "profile a command (or a running process) with perf record -o - --buildid-mmap, converting the recording as it is made into a pprof profile whose mappings carry the build IDs the kernel read; Ctrl-C stops perf and the command and still writes the profile; the exit status is the command's. The command's standard output goes to standard error (perf's standard output carries the recording)",
    )
    .argument("[command...]", "the command to run and profile, after --")
    .requiredOption(
      "-o, --output <file>",
      "where to write the profile: gzip-compressed when it ends in .gz; - writes it gzip-compressed to standard output (not to a terminal), and the report to standard error",
    )
    .option(
      "-F, --freq <hz>",
      "samples a second (perf's -F; perf's default when absent)",
      integerOption("--freq", 1, 1_000_000),
    )
    .option("-g", "record call stacks (frame pointers, perf's -g)")
    .option("-e, --event <event>", "the event to sample (default: cycles where the CPU has a PMU, else cpu-clock)")
    .option(
      "-p, --pid <pid>",
      "profile this running process instead of a command, until it exits or Ctrl-C",
      integerOption("--pid"),
    )
    .option("--perf <path>", "the perf command", "perf")
    .option("--proc <dir>", "where procfs is mounted", "/proc")
    .option("--json", "print the report as JSON")
    .action(async (commandLine: string[], options: RecordOptions) => {
      if ((options.pid === undefined) === (commandLine.length === 0))
        throw new UsageError("record needs either -p PID or a command after --, not both");
      refuseBinaryToTerminal(options.output, "a pprof profile");
      if (options.pid !== undefined) await requireProcess(options.proc, options.pid);
      else await findCommand(commandLine[0]!);
      const args = await perfRecordArguments({
        perf: options.perf,
        frequency: options.freq,
        callGraph: options.g === true,
        event: options.event,
        pid: options.pid,
        command: commandLine,
        procRoot: options.proc,
      });
      const resolver = await BuildIdResolver.create({ procRoot: options.proc });
      // Every event perf records comes after this: a file whose ctime is before it is the inode mapped.
      const recordedSince = Date.now();
      const jit = new PerfMapNames({ owners: [recordedUser(options), 0], since: recordedSince });
      const perf = startPerf(options.perf, args);
      const forward = (signal: NodeJS.Signals) => perf.child.kill(signal);
      for (const signal of FORWARDED) process.on(signal, forward);
      const work = (async () => {
        const conversion = convertPerfData(perf.stream, {
          readBuildId: recordedFileReader(resolver, { live: true, procRoot: options.proc, recordedSince }),
          frameNames: jit.frameNames,
        });
        const [converted, exited] = await Promise.allSettled([conversion, perf.exited]);
        if (exited.status === "rejected") throw exited.reason;
        const { code, signal } = exited.value;
        if (converted.status === "rejected") {
          const nothing = converted.reason instanceof PerfDataError && converted.reason.offset === 0;
          if (!nothing || code === 0) throw converted.reason;
          const paranoid = await perfEventParanoid(options.proc);
          const hint =
            process.getuid?.() !== 0 && paranoid !== undefined && paranoid > 1
              ? ` Perhaps ${paranoidFix(paranoid)}.`
              : " Its message above says why (--buildid-mmap needs Linux 5.12 or later).";
          throw new PerfUnavailableError(
            "EPERFFAILED",
            `perf record exited with status ${code ?? signal} before recording anything.${hint}`,
          );
        }
        const { profile, summary, named } = converted.value;
        await writeProfileTo(options.output, profile);
        const print = options.output === STANDARD_STREAM ? context.output.err : context.output.out;
        const where = options.output === STANDARD_STREAM ? "standard output" : options.output;
        print(
          options.json
            ? jsonText({ exitStatus: code, signal, ...summary, jit: perfMapSummary(jit, named) }, String)
            : conversionReport(where, summary) +
                perfMapReport(jit, named, summary.samples, summary.unresolved.anonymous),
        );
        return code ?? 128 + signalNumber(signal);
      })();
      // Interrupted: the CLI waits for the profile before it exits (130, 143).
      context.onStop(async () => {
        await work.catch(() => {});
      });
      try {
        process.exitCode = await work;
      } finally {
        for (const signal of FORWARDED) process.off(signal, forward);
      }
    });
  withHelpSections(command, {
    examples: [
      [
        "buildid-cache record -g -o cpu.pb.gz -- node app.js",
        "profile a Node program; then: go tool pprof -top cpu.pb.gz",
      ],
      ["buildid-cache record -F 999 -g -p 4242 -o cpu.pb.gz", "profile process 4242 until it exits or Ctrl-C"],
    ],
    environment: [["PATH", "where perf is found (or give --perf)"]],
    exitStatuses: [...COMMON_EXITS, EXIT.noPerf, EXIT.cannotRun, EXIT.notFound].sort((a, b) => a - b),
  });
  return program;
}

// The recorded process's user: a command's is ours (a set-user-ID program's map is refused), a running process's owns its /proc entry.
function recordedUser(options: RecordOptions): number {
  const own = process.geteuid?.() ?? 0;
  if (options.pid === undefined) return own;
  try {
    return statSync(`${options.proc}/${options.pid}`).uid;
  } catch {
    return own;
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 1 : (constants.signals[signal] ?? 1);
}
