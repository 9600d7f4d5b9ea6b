/**
 * perf.data to pprof and to perf's build-ID list, universal (no Node built-ins): the converter the
 * commands `pprof`, `record` and `buildid-list` run, and the page can run on a dropped file.
 *
 * ```ts
 * const { profile, summary } = await convertPerfData(file); // a File, Blob, Uint8Array or chunks
 * for (const f of summary.files) console.log(f.buildId ?? f.reason, f.path, f.samples);
 * ```
 * @module
 */
export type { BuildIdSource, FileBuildId, ReadBuildId } from "./build-ids.js";
export { type BuildIdListing, type BuildIdListLine, type BuildIdListOptions, listBuildIds } from "./buildid-list.js";
export {
  type ConversionSummary,
  type ConvertOptions,
  convertPerfData,
  type FileSummary,
  type PerfConversion,
  PerfConverter,
  type ProcessSummary,
} from "./convert.js";
export type { FeedStats } from "./feed.js";
export { InternLimitError } from "./intern.js";
export type { FrameNames, NamedFrames } from "./pprof.js";
export { type AggregateLimits, DEFAULT_AGGREGATE_LIMITS, type FrameFailure } from "./samples.js";
