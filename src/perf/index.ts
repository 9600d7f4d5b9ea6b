/**
 * The perf.data reader (`buildid-cache/perf`): `perf record` output in file mode or pipe mode, either byte
 * order, zstd-compressed records included, as a stream of typed records; universal (no Node built-ins).
 *
 * Two layers, as samply's linux-perf-data splits them: {@link PerfData.rawRecords} and
 * {@link PerfDataStream.rawRecords} yield raw records cheaply (header, a body view, the offset);
 * {@link PerfSession.parse} turns one into a {@link PerfRecord}. {@link orderRecords} then puts records in
 * the order perf delivers them (its ordered_events and FINISHED_ROUND rounds).
 *
 * ```ts
 * const data = readPerfData(bytes);
 * for (const record of orderRecords(data.records())) if (record.kind === "sample") use(record.ip, record.callchain);
 * ```
 *
 * The same entry holds what is built on the records:
 * - the converter: {@link convertPerfData} (perf.data to a pprof profile with a Mapping per file and its
 *   build ID, and a {@link ConversionSummary}) and {@link listBuildIds} (the lines `perf buildid-list` prints);
 * - the address-space model the converter feeds: {@link AddressSpaces}, fed {@link SpaceEvent}s, answering
 *   which mapping (file identity and file offset) held an address at a sample's time.
 *
 * ```ts
 * const { profile, summary } = await convertPerfData(file); // a File, Blob, Uint8Array or chunks
 * for (const f of summary.files) console.log(f.buildId ?? f.reason, f.path, f.samples);
 * ```
 * In Node, `recordedFileReader` from `buildid-cache/node` reads the build IDs a recording lacks from the
 * files by device and inode.
 * @module
 */

export * from "../convert/index.js";
export * from "../spaces/index.js";
export type { PerfEventAttr } from "./attr.js";
export { Misc, PERF_CONTEXT_MAX, RecordType, SAMPLE_BIT_NAMES, Sample } from "./constants.js";
export { PerfDataError, type PerfDataErrorCode } from "./errors.js";
export {
  type BuildIdEntry,
  type CompressionInfo,
  type PerfClock,
  realtimeOf,
  type Section,
  timesOnClock,
} from "./header.js";
export {
  type Orderable,
  OrderedEvents,
  type OrderOptions,
  type OrderStats,
  orderRecords,
  orderRecordsAsync,
} from "./order.js";
export { readPerfData } from "./read.js";
export {
  DEFAULT_PERF_LIMITS,
  PerfData,
  type PerfDataSource,
  PerfDataStream,
  type PerfReadLimits,
  type PerfReadOptions,
  PerfSession,
  streamPerfData,
} from "./reader.js";
export type {
  BuildIdIdentity,
  CommRecord,
  CompressedRecord,
  HeaderAttrRecord,
  HeaderBuildIdRecord,
  HeaderFeatureRecord,
  InodeIdentity,
  KernelRecordBase,
  LostRecord,
  MarkerRecord,
  Mmap2Record,
  MmapRecord,
  OtherRecord,
  PerfRecord,
  RawRecord,
  RecordBase,
  SampleId,
  SampleRead,
  SampleRecord,
  TaskRecord,
} from "./records.js";
