// Numbers from the kernel's include/uapi/linux/perf_event.h and perf's tools/lib/perf/include/perf/event.h.

/** `PERF_RECORD_*` record types: the kernel's below 64, perf's own ("user") records from 64. */
export const RecordType = {
  /** `PERF_RECORD_MMAP`. */
  MMAP: 1,
  /** `PERF_RECORD_LOST`. */
  LOST: 2,
  /** `PERF_RECORD_COMM`. */
  COMM: 3,
  /** `PERF_RECORD_EXIT`. */
  EXIT: 4,
  /** `PERF_RECORD_THROTTLE`. */
  THROTTLE: 5,
  /** `PERF_RECORD_UNTHROTTLE`. */
  UNTHROTTLE: 6,
  /** `PERF_RECORD_FORK`. */
  FORK: 7,
  /** `PERF_RECORD_READ`. */
  READ: 8,
  /** `PERF_RECORD_SAMPLE`. */
  SAMPLE: 9,
  /** `PERF_RECORD_MMAP2`. */
  MMAP2: 10,
  /** `PERF_RECORD_HEADER_ATTR`. */
  HEADER_ATTR: 64,
  /** `PERF_RECORD_HEADER_EVENT_TYPE`. */
  HEADER_EVENT_TYPE: 65,
  /** `PERF_RECORD_HEADER_TRACING_DATA`. */
  HEADER_TRACING_DATA: 66,
  /** `PERF_RECORD_HEADER_BUILD_ID`. */
  HEADER_BUILD_ID: 67,
  /** `PERF_RECORD_FINISHED_ROUND`. */
  FINISHED_ROUND: 68,
  /** `PERF_RECORD_ID_INDEX`. */
  ID_INDEX: 69,
  /** `PERF_RECORD_AUXTRACE_INFO`. */
  AUXTRACE_INFO: 70,
  /** `PERF_RECORD_AUXTRACE`. */
  AUXTRACE: 71,
  /** `PERF_RECORD_HEADER_FEATURE`. */
  HEADER_FEATURE: 80,
  /** `PERF_RECORD_COMPRESSED`. */
  COMPRESSED: 81,
  /** `PERF_RECORD_FINISHED_INIT`. */
  FINISHED_INIT: 82,
  /** `PERF_RECORD_COMPRESSED2`. */
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
  /** `PERF_SAMPLE_IP`. */
  IP: 1 << 0,
  /** `PERF_SAMPLE_TID`. */
  TID: 1 << 1,
  /** `PERF_SAMPLE_TIME`. */
  TIME: 1 << 2,
  /** `PERF_SAMPLE_ADDR`. */
  ADDR: 1 << 3,
  /** `PERF_SAMPLE_READ`. */
  READ: 1 << 4,
  /** `PERF_SAMPLE_CALLCHAIN`. */
  CALLCHAIN: 1 << 5,
  /** `PERF_SAMPLE_ID`. */
  ID: 1 << 6,
  /** `PERF_SAMPLE_CPU`. */
  CPU: 1 << 7,
  /** `PERF_SAMPLE_PERIOD`. */
  PERIOD: 1 << 8,
  /** `PERF_SAMPLE_STREAM_ID`. */
  STREAM_ID: 1 << 9,
  /** `PERF_SAMPLE_RAW`. */
  RAW: 1 << 10,
  /** `PERF_SAMPLE_BRANCH_STACK`. */
  BRANCH_STACK: 1 << 11,
  /** `PERF_SAMPLE_REGS_USER`. */
  REGS_USER: 1 << 12,
  /** `PERF_SAMPLE_STACK_USER`. */
  STACK_USER: 1 << 13,
  /** `PERF_SAMPLE_WEIGHT`. */
  WEIGHT: 1 << 14,
  /** `PERF_SAMPLE_DATA_SRC`. */
  DATA_SRC: 1 << 15,
  /** `PERF_SAMPLE_IDENTIFIER`. */
  IDENTIFIER: 1 << 16,
  /** `PERF_SAMPLE_TRANSACTION`. */
  TRANSACTION: 1 << 17,
  /** `PERF_SAMPLE_REGS_INTR`. */
  REGS_INTR: 1 << 18,
  /** `PERF_SAMPLE_PHYS_ADDR`. */
  PHYS_ADDR: 1 << 19,
  /** `PERF_SAMPLE_AUX`. */
  AUX: 1 << 20,
  /** `PERF_SAMPLE_CGROUP`. */
  CGROUP: 1 << 21,
  /** `PERF_SAMPLE_DATA_PAGE_SIZE`. */
  DATA_PAGE_SIZE: 1 << 22,
  /** `PERF_SAMPLE_CODE_PAGE_SIZE`. */
  CODE_PAGE_SIZE: 1 << 23,
  /** `PERF_SAMPLE_WEIGHT_STRUCT`. */
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
  /** On FORK: perf synthesised it for a process already running (`PERF_RECORD_MISC_FORK_EXEC`, the same bit). */
  FORK_EXEC: 1 << 13,
  /** On MMAP2: the record carries a build ID instead of device and inode. */
  MMAP_BUILD_ID: 1 << 14,
  /** On HEADER_BUILD_ID: the `size` byte holds the build ID's length. */
  BUILD_ID_SIZE: 1 << 15,
} as const;

/** Callchain entries at or above this are `PERF_CONTEXT_*` markers, not addresses. */
export const PERF_CONTEXT_MAX = 0xffff_ffff_ffff_f001n;

/** The perf.data header features (`HEADER_*`), by bit number. */
export const Feature = { BUILD_ID: 2, CLOCKID: 23, COMPRESSED: 27, CLOCK_DATA: 29 } as const;

/** `perf_event_attr` bitfield positions read here (bit 0 is `disabled`). */
export const AttrFlag = { SAMPLE_ID_ALL: 18, MMAP2: 23, COMM_EXEC: 24, USE_CLOCKID: 25, BUILD_ID: 34 } as const;

/** `PERF_ATTR_SIZE_VER0`: an attr of size 0 in a file means this size. */
export const ATTR_SIZE_VER0 = 64;
