/**
 * What `pprof` does once its command line is read (by commander or by ./data-commands.ts): the
 * recording converted, the profile written, the report printed. Nothing here loads commander.
 *
 * @packageDocumentation
 */
import { convertPerfData } from "../../convert/convert.js";
import { PerfDataStream } from "../../perf/reader.js";
import { provideZstdEngine } from "../../perf/splitter.js";
import { openPerfChunks } from "../perf-input.js";
import { PerfMapNames, perfMapReport, perfMapSummary } from "../perf-map.js";
import { gzipProfile, writeProfileFile } from "../profile-out.js";
import { recordedFileReader, recordingStartMs } from "../recorded-files.js";
import { nativeZstdEngine } from "../zstd-native.js";
import { conversionReport } from "./conversion-report.js";
import { type CommandContext, jsonText, STANDARD_STREAM } from "./shared.js";
import { refuseBinaryToTerminal, writeStandardOutput } from "./standard-streams.js";

/** `pprof`'s options, as commander gives them. */
export interface PprofOptions {
  /** Where the profile goes; `-` is standard output. */
  output: string;
  /** The report as JSON. */
  json?: boolean;
  /** Read a file on this machine for a build ID the recording lacks (`--no-read-files` clears it). */
  readFiles: boolean;
  /** Read such a file by path, device and inode alone. */
  trustPaths?: boolean;
  /** Name JIT frames from `/tmp/perf-PID.map` (`--perf-maps`). */
  perfMaps?: boolean;
}

/** Writes an uncompressed profile to `path` (`-`: gzip-compressed to standard output). */
export async function writeProfileTo(path: string, profile: Uint8Array): Promise<void> {
  if (path === STANDARD_STREAM) await writeStandardOutput(await gzipProfile(profile));
  else await writeProfileFile(path, profile);
}

/** Converts the recording at `input` (`-`: standard input) as `options` say and reports to `context`. */
export async function runPprof(input: string, options: PprofOptions, context: CommandContext): Promise<void> {
  refuseBinaryToTerminal(options.output, "a pprof profile");
  // Every way in (launcher, program, commander): Node's own zstd where it has one.
  provideZstdEngine(nativeZstdEngine);
  const print = options.output === STANDARD_STREAM ? context.output.err : context.output.out;
  const opened = await openPerfChunks(input);
  try {
    // The resolver (the WebAssembly core) is loaded and started only if the recording lacks a build ID.
    const resolver = async () => {
      await import("../../default-core.js");
      return (await import("../resolver/resolver.js")).BuildIdResolver.create();
    };
    const stream = new PerfDataStream(opened.source);
    const recordedSince = () => recordingStartMs(stream.session?.clock);
    // The recorded process is gone: its map must be this user's or root's.
    const jit = options.perfMaps
      ? new PerfMapNames({ owners: [process.geteuid?.() ?? 0], since: recordedSince })
      : undefined;
    const { profile, summary, named } = await convertPerfData(stream, {
      ...(options.readFiles
        ? { readBuildId: recordedFileReader(resolver, { recordedSince, trustPaths: options.trustPaths === true }) }
        : {}),
      ...(jit ? { frameNames: jit.frameNames } : {}),
    });
    await writeProfileTo(options.output, profile);
    const where = options.output === STANDARD_STREAM ? "standard output" : options.output;
    const report = jit ? perfMapReport(jit, named, summary.samples, summary.unresolved.anonymous) : "";
    print(
      options.json
        ? jsonText(jit ? { ...summary, jit: perfMapSummary(jit, named) } : summary, String)
        : conversionReport(where, summary) + report,
    );
  } finally {
    await opened.close();
  }
}
