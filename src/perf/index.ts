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
 * @module
 */
export type { PerfEventAttr } from "./attr.js";
export { Misc, PERF_CONTEXT_MAX, RecordType, SAMPLE_BIT_NAMES, Sample } from "./constants.js";
export { PerfDataError, type PerfDataErrorCode } from "./errors.js";
export type { BuildIdEntry, CompressionInfo, Section } from "./header.js";
export {
  type Orderable,
  OrderedEvents,
  type OrderOptions,
  type OrderStats,
  orderRecords,
  orderRecordsAsync,
} from "./order.js";
export {
  DEFAULT_PERF_LIMITS,
  PerfData,
  type PerfDataSource,
  PerfDataStream,
  type PerfReadLimits,
  type PerfReadOptions,
  PerfSession,
  readPerfData,
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
