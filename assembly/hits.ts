// buildid-list -H's per-sample chain, over perf.data's record bytes: each SAMPLE's pid, IP and time read
// from its body, queued in time order as perf's rounds deliver it (src/convert/windows.ts's order: the
// rounds, the half flush, arrival order on ties with events), and marked through a cache of the mapping
// found per (pid, 64 KiB of addresses). The address spaces, the events and the cache's misses stay in
// JavaScript, reached through the imports below; this module knows nothing of files or processes.
// No allocation after init() but the queue's growth.
//
// The queue: `queued` entries of ENTRY bytes, in arrival order.
//
//      0        8        16       24     28     32
//     +--------+--------+--------+------+------+
//     |  time  |   ip   |  seq   | pid  | pad  |
//     +--------+--------+--------+------+------+
//
// The cache: CACHE_SLOTS records of SLOT bytes.
//
//      0      4      8        16       24       32
//     +------+------+--------+--------+--------+
//     | gen  | pid  | start  |  last  | since  |
//     +------+------+--------+--------+--------+
//
//     gen: the `generation` the answer was found in (0: empty, as memory starts; generations start at 1); an
//     event that changes a space bumps `generation`, so every older answer lapses at once. last: the mapping's last byte (an end of 2^64 fits).

// ---- layout -------------------------------------------------------------------------------

const TIME: usize = 0;
const IP: usize = TIME + 8;
const SEQ: usize = IP + 8;
const PID: usize = SEQ + 8;
/** Bytes per queued sample. */
const ENTRY: usize = PID + 8;

const GEN: usize = 0;
const SLOT_PID: usize = GEN + 4;
const START: usize = SLOT_PID + 4;
const LAST: usize = START + 8;
const SINCE: usize = LAST + 8;
/** Bytes per cache slot. */
const SLOT: usize = SINCE + 8;
/** log2 of the cache's slots. */
const CACHE_BITS: u32 = 12;
const CACHE_SLOTS: usize = 1 << CACHE_BITS;

/** Bytes of the window JavaScript copies record bytes into: any record (perf's u16 size) fits. */
export const WINDOW: usize = 65536;
/** Samples the queue holds to start with (two rounds of a 20 kHz recording on 2 CPUs); it doubles when full. */
const INITIAL_QUEUE: usize = 1 << 12;

// ---- perf's constants ---------------------------------------------------------------------

const HEADER: u32 = 8;
const RECORD_SAMPLE: u32 = 9;
const CPUMODE_MASK: u32 = 7;
const CPUMODE_KERNEL: u32 = 1;
const CPUMODE_USER: u32 = 2;
/** The kernel's space (src/spaces' KERNEL_PID). */
const KERNEL_PID: i32 = -1;
/** A sample that marks nothing: a cpumode other than the kernel's or user space's, or no pid. */
const NO_PID: i32 = -2;
/** What a queued sample counts against the queue's byte bound (the converter's sample record without a chain). */
const SAMPLE_BYTES: u64 = 36;
/** A time perf delivers at once; also "no time" when a sample is compared with a mapping's start. */
const U64_MAX: u64 = u64.MAX_VALUE;

// ---- imports ------------------------------------------------------------------------------

/** Delivers the earliest queued event (JavaScript's queue) and tells {@link setEvents} what is left. */
@external("hits", "deliver")
declare function deliver(): void;

/** Looks a sample up in the address spaces, notes its dso's hit and may {@link fill} `slot`; halves of u64s as f64. */
@external("hits", "miss")
declare function miss(pid: i32, ipHi: f64, ipLo: f64, timeHi: f64, timeLo: f64, hasTime: bool, slot: i32): void;

// ---- state --------------------------------------------------------------------------------

let window: usize = 0;
let cache: usize = 0;
let queue: usize = 0;
let capacity: usize = 0;
let queued: usize = 0;
let seq: u64 = 0;
let generation: i32 = 1;

// The sample layout (configure()): byte offsets in a sample's body, -1 when absent.
let enabled = false;
let littleEndian = true;
let ipAt: i32 = -1;
let tidAt: i32 = -1;
let timeAt: i32 = -1;
let minBody: u32 = 0;
let inputOrder = false;
/** The queue's bounds (bounds()): records queued, and their bytes. */
let maxQueued: u64 = 0;
let maxBytes: u64 = 0;

// The rounds: the next flush bound, the latest time queued since the queue was empty, the last one queued.
let next: u64 = 0;
let latest: u64 = 0;
let last: u64 = 0;
let hasLast = false;

// JavaScript's event queue as the bounds need it: its length, bytes, and earliest event.
let events: u32 = 0;
let eventBytes: u64 = 0;
let firstTime: u64 = 0;
let firstSeq: u64 = 0;

/** Why scan() stopped: 1 when the record at its answer does not end inside the bytes it was given. */
export let cut: i32 = 0;

// ---- setup --------------------------------------------------------------------------------

/** Reserves the window, the cache and the queue; returns the window's address. */
export function init(): usize {
  window = heap.alloc(WINDOW);
  cache = heap.alloc(CACHE_SLOTS * SLOT);
  capacity = INITIAL_QUEUE;
  queue = heap.alloc(capacity * ENTRY); // last, so it grows in place
  return window;
}

/** How samples are laid out (one attribute's plan): `on` false leaves every sample to JavaScript. */
export function configure(on: bool, le: bool, ip: i32, tid: i32, time: i32, min: u32, unordered: bool): void {
  enabled = on;
  littleEndian = le;
  ipAt = ip;
  tidAt = tid;
  timeAt = time;
  minBody = min;
  inputOrder = unordered;
}

/** The queue's bounds (the converter's maxQueuedEvents and maxQueuedBytes): perf's half flush past them. */
export function bounds(records: f64, bytes: f64): void {
  maxQueued = <u64>records;
  maxBytes = <u64>bytes;
}

/** An event changed a space: every cached answer lapses. */
export function changed(): void {
  generation++;
}

/** JavaScript's event queue changed: its length and bytes, and its earliest event's time and arrival number. */
export function setEvents(count: u32, bytes: f64, hi: u32, lo: u32, arrival: f64): void {
  events = count;
  eventBytes = <u64>bytes;
  firstTime = time64(hi, lo);
  firstSeq = <u64>arrival;
}

/** Caches a miss's answer: `pid`'s mapping [start, last] has held since `since`. */
export function fill(slot: i32, pid: i32, startHi: u32, startLo: u32, lastHi: u32, lastLo: u32, sinceHi: u32, sinceLo: u32): void {
  const at = cache + <usize>slot * SLOT;
  store<i32>(at + GEN, generation);
  store<i32>(at + SLOT_PID, pid);
  store<u64>(at + START, time64(startHi, startLo));
  store<u64>(at + LAST, time64(lastHi, lastLo));
  store<u64>(at + SINCE, time64(sinceHi, sinceLo));
}

// ---- the chain ----------------------------------------------------------------------------

@inline function time64(hi: u32, lo: u32): u64 {
  return (<u64>hi << 32) | <u64>lo;
}

// The readers take the byte order as a constant (scan's two copies of its loop): a ternary on the global
// became a select that ran the polyfilled bswap on every field of a little-endian file too.
@inline function u16At(p: usize, le: bool): u32 {
  const v = <u32>load<u16>(p);
  return le ? v : <u32>bswap<u16>(<u16>v);
}

@inline function u32At(p: usize, le: bool): u32 {
  const v = load<u32>(p);
  return le ? v : bswap<u32>(v);
}

@inline function u64At(p: usize, le: bool): u64 {
  const v = load<u64>(p);
  return le ? v : bswap<u64>(v);
}

/**
 * Takes the whole SAMPLE records in [from, to) in order and returns where it stopped: at a record of
 * another type, one too short for its fields (JavaScript's parser says what it makes of it), or one that
 * does not end before `to` ({@link cut} 1). Stops at once unless configured.
 */
export function scan(from: usize, to: usize): usize {
  cut = 0;
  if (!enabled) return from;
  return littleEndian ? scanIn(from, to, true) : scanIn(from, to, false);
}

/** scan() in byte order `le`, a constant in each copy. */
@inline function scanIn(from: usize, to: usize, le: bool): usize {
  let p = from;
  while (p + HEADER <= to) {
    const size = u16At(p + 6, le);
    if (size < HEADER) return p;
    if (p + size > to) {
      cut = 1;
      return p;
    }
    if (u32At(p, le) != RECORD_SAMPLE || size - HEADER < minBody) return p;
    const b = p + HEADER;
    const pid = tidAt >= 0 ? <i32>u32At(b + tidAt, le) : NO_PID;
    const ip = ipAt >= 0 ? u64At(b + ipAt, le) : 0;
    const mode = u16At(p + 4, le) & CPUMODE_MASK;
    if (timeAt >= 0) put(pid, mode, ip, u64At(b + timeAt, le), true);
    else put(pid, mode, ip, 0, false);
    p += size;
  }
  if (p < to) cut = 1;
  return p;
}

/** A sample JavaScript decoded (one scan() left to it): its pid, cpumode, IP and time as halves. */
export function take(pid: i32, mode: u32, ipHi: u32, ipLo: u32, timeHi: u32, timeLo: u32, hasTime: bool): void {
  put(pid, mode, time64(ipHi, ipLo), time64(timeHi, timeLo), hasTime);
}

function put(pid: i32, mode: u32, ip: u64, time: u64, hasTime: bool): void {
  if (mode == CPUMODE_KERNEL) pid = KERNEL_PID;
  else if (mode != CPUMODE_USER || pid < KERNEL_PID) pid = NO_PID;
  if (inputOrder || !hasTime || time == 0 || time == U64_MAX) {
    mark(pid, ip, hasTime ? time : U64_MAX, hasTime);
    return;
  }
  note(time, SAMPLE_BYTES);
  if (queued == capacity) {
    queue = heap.realloc(queue, 2 * capacity * ENTRY);
    capacity *= 2;
  }
  const at = queue + queued++ * ENTRY;
  store<u64>(at + TIME, time);
  store<u64>(at + IP, ip);
  store<u64>(at + SEQ, seq++);
  store<i32>(at + PID, pid);
}

/** An event JavaScript queues at `hi`:`lo`: the bounds as for a sample; returns its arrival number. */
export function queueEvent(hi: u32, lo: u32, bytes: u32): f64 {
  note(time64(hi, lo), <u64>bytes);
  const arrival = seq++;
  return <f64>arrival;
}

@inline function size(): u64 {
  return <u64>events + <u64>queued;
}

/** Notes a record queued at `time` (perf's queue_event), after a half flush when the queue is past a bound. */
function note(time: u64, bytes: u64): void {
  if (size() >= maxQueued || eventBytes + SAMPLE_BYTES * <u64>queued + bytes > maxBytes) flushHalf();
  if (size() == 0 || time >= latest) latest = time;
  last = time;
  hasLast = true;
}

/** perf's half flush: delivers the older half of the queued span, from the earliest queued time to the last one queued. */
function flushHalf(): void {
  if (size() == 0 || !hasLast) return;
  let first = events > 0 ? firstTime : U64_MAX;
  for (let at = queue, end = queue + queued * ENTRY; at < end; at += ENTRY) {
    const t = load<u64>(at + TIME);
    if (t < first) first = t;
  }
  // As BigInt's (last - first) / 2n: truncated toward zero when last comes before first.
  next = last >= first ? first + (last - first) / 2 : first - (first - last) / 2;
  flushTo(next, false);
}

/** perf's FINISHED_ROUND: delivers what came before the round before this one. */
export function round(): void {
  if (size() == 0) return;
  flushTo(next, false);
  next = latest;
}

/** Delivers everything (perf's final flush). */
export function finish(): void {
  flushTo(0, true);
}

/**
 * Delivers what is due up to `limit` (everything when `all`): the events in time order, and before each
 * the samples that come before it (in time, then arrival).
 */
function flushTo(limit: u64, all: bool): void {
  if (!all && limit == 0) return;
  while (events > 0 && (all || firstTime <= limit)) {
    markDue(firstTime, firstSeq);
    deliver();
  }
  markDue(all ? U64_MAX : limit, U64_MAX);
  if (size() == 0) hasLast = false;
}

/** Marks the queued samples before (`limit`, `limitSeq`) in time, then arrival, and keeps the rest in order. */
function markDue(limit: u64, limitSeq: u64): void {
  let kept = queue;
  for (let at = queue, end = queue + queued * ENTRY; at < end; at += ENTRY) {
    const t = load<u64>(at + TIME);
    if (t > limit || (t == limit && load<u64>(at + SEQ) > limitSeq)) {
      // Word by word: memory.copy is a call out of the baseline tier's code.
      store<u64>(kept + TIME, t);
      store<u64>(kept + IP, load<u64>(at + IP));
      store<u64>(kept + SEQ, load<u64>(at + SEQ));
      store<u64>(kept + PID, load<u64>(at + PID));
      kept += ENTRY;
    } else mark(load<i32>(at + PID), load<u64>(at + IP), t, true);
  }
  queued = (kept - queue) / ENTRY;
}

/** Marks the dso a sample's IP fell in: from the cache while its answer holds, else through {@link miss}. */
function mark(pid: i32, ip: u64, time: u64, hasTime: bool): void {
  if (pid == NO_PID) return;
  const h = (<u32>(ip >> 32) ^ (<u32>ip >> 16) * 0x9e3779b1 ^ <u32>pid * 0x85ebca6b) * 0xc2b2ae35;
  const slot = h >> (32 - CACHE_BITS);
  const at = cache + <usize>slot * SLOT;
  // A cached answer's dso was marked when it was filled.
  if (
    load<i32>(at + GEN) == generation &&
    load<i32>(at + SLOT_PID) == pid &&
    ip >= load<u64>(at + START) &&
    ip <= load<u64>(at + LAST) &&
    time >= load<u64>(at + SINCE)
  )
    return;
  miss(pid, <f64>(ip >> 32), <f64>(ip & 0xffffffff), <f64>(time >> 32), <f64>(time & 0xffffffff), hasTime, <i32>slot);
}
