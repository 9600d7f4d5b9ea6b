// Numbers from the kernel's include/uapi/linux/perf_event.h and perf's tools/lib/perf/include/perf/event.h.

/** `PERF_RECORD_*` record types: the kernel's below 64, perf's own ("user") records from 64. */
export const RecordType = {
  MMAP: 1,
  LOST: 2,
  COMM: 3,
  EXIT: 4,
  THROTTLE: 5,
  UNTHROTTLE: 6,
  FORK: 7,
  READ: 8,
  SAMPLE: 9,
  MMAP2: 10,
  HEADER_ATTR: 64,
  HEADER_EVENT_TYPE: 65,
  HEADER_TRACING_DATA: 66,
  HEADER_BUILD_ID: 67,
  FINISHED_ROUND: 68,
  ID_INDEX: 69,
  AUXTRACE_INFO: 70,
  AUXTRACE: 71,
  HEADER_FEATURE: 80,
  COMPRESSED: 81,
  FINISHED_INIT: 82,
  COMPRESSED2: 83,
} as const;

/** Records of this type and above are written by perf itself, not the kernel; they carry no sample ID. */
export const USER_TYPE_START = 64;

/** The `sample_type` bits (`PERF_SAMPLE_*`), in bit order; the index is the bit number. */
export const SAMPLE_BIT_NAMES = [
  "IP",
  "TID",
  "TIME",
  "ADDR",
  "READ",
  "CALLCHAIN",
  "ID",
  "CPU",
  "PERIOD",
  "STREAM_ID",
  "RAW",
  "BRANCH_STACK",
  "REGS_USER",
  "STACK_USER",
  "WEIGHT",
  "DATA_SRC",
  "IDENTIFIER",
  "TRANSACTION",
  "REGS_INTR",
  "PHYS_ADDR",
  "AUX",
  "CGROUP",
  "DATA_PAGE_SIZE",
  "CODE_PAGE_SIZE",
  "WEIGHT_STRUCT",
] as const;

/** `PERF_SAMPLE_*` bits as numbers (all below 2^25, so plain numbers serve). */
export const Sample = {
  IP: 1 << 0,
  TID: 1 << 1,
  TIME: 1 << 2,
  ADDR: 1 << 3,
  READ: 1 << 4,
  CALLCHAIN: 1 << 5,
  ID: 1 << 6,
  CPU: 1 << 7,
  PERIOD: 1 << 8,
  STREAM_ID: 1 << 9,
  RAW: 1 << 10,
  BRANCH_STACK: 1 << 11,
  REGS_USER: 1 << 12,
  STACK_USER: 1 << 13,
  WEIGHT: 1 << 14,
  DATA_SRC: 1 << 15,
  IDENTIFIER: 1 << 16,
  TRANSACTION: 1 << 17,
  REGS_INTR: 1 << 18,
  PHYS_ADDR: 1 << 19,
  AUX: 1 << 20,
  CGROUP: 1 << 21,
  DATA_PAGE_SIZE: 1 << 22,
  CODE_PAGE_SIZE: 1 << 23,
  WEIGHT_STRUCT: 1 << 24,
} as const;

/** `read_format` bits (`PERF_FORMAT_*`). */
export const ReadFormat = { TOTAL_TIME_ENABLED: 1, TOTAL_TIME_RUNNING: 2, ID: 4, GROUP: 8, LOST: 16 } as const;

/** `branch_sample_type` bit that adds `hw_idx` to a branch stack. */
export const BRANCH_HW_INDEX = 1 << 17;

/** `header.misc` bits. */
export const Misc = {
  /** The low three bits: the CPU mode (`PERF_RECORD_MISC_KERNEL` 1, `USER` 2, ...). */
  CPUMODE_MASK: 0b111,
  /** On COMM: the name changed because of an `exec`. */
  COMM_EXEC: 1 << 13,
  /** On MMAP2: the record carries a build ID instead of device and inode. */
  MMAP_BUILD_ID: 1 << 14,
  /** On HEADER_BUILD_ID: the `size` byte holds the build ID's length. */
  BUILD_ID_SIZE: 1 << 15,
} as const;

/** Callchain entries at or above this are `PERF_CONTEXT_*` markers, not addresses. */
export const PERF_CONTEXT_MAX = 0xffff_ffff_ffff_f001n;

/** The perf.data header features (`HEADER_*`), by bit number. */
export const Feature = { BUILD_ID: 2, COMPRESSED: 27 } as const;

/** `perf_event_attr` bitfield positions read here (bit 0 is `disabled`). */
export const AttrFlag = { SAMPLE_ID_ALL: 18, MMAP2: 23, COMM_EXEC: 24, BUILD_ID: 34 } as const;

/** `PERF_ATTR_SIZE_VER0`: an attr of size 0 in a file means this size. */
export const ATTR_SIZE_VER0 = 64;
