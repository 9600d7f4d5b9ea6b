// perf's ordered_events (tools/perf/util/ordered-events.c, driven as session.c drives it): kernel records
// are queued by time and delivered in time order, up to the bound of the previous round at each
// FINISHED_ROUND, half the queue's span when the queue is full, and everything at the end.

import { RecordType, USER_TYPE_START } from "./constants.js";
import type { PerfRecord } from "./records.js";

/** What the orderer needs of a record: its type, its time, its size. */
export interface Orderable {
  /** `PERF_RECORD_*` type: perf's own records (64 and up) are never queued. */
  type: number;
  /** Its time; undefined, 0 and 2^64 - 1 are delivered at once, as perf delivers records its -ETIME path refuses. */
  time: bigint | undefined;
  /** Bytes, counted against {@link OrderOptions.maxQueuedBytes}. */
  size: number;
}

/** Bounds on the queue; past one, perf's half flush delivers the older half of the queue's time span. */
export interface OrderOptions {
  /** Most records queued: 250,000 (about 100 MB of parsed samples with call chains). */
  maxQueuedEvents?: number;
  /** Most record bytes queued (the records' `size`): 64 MiB. perf's own bound is `report.queue-size`, unbounded by default. */
  maxQueuedBytes?: number;
}

/** What the orderer did. */
export interface OrderStats {
  /** Records queued with a time before the last one delivered: perf's "out of order events". */
  unordered: number;
  /** Half flushes forced by the queue bounds. */
  halfFlushes: number;
  /** Most records queued at once. */
  maxQueued: number;
}

interface Entry<T> {
  /** `time` as a number: exact below 2^53 ns (104 days of uptime), never out of order above it. */
  key: number;
  time: bigint;
  seq: number;
  event: T;
}

const U64_MAX = (1n << 64n) - 1n;

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  if (a.key !== b.key) return a.key < b.key;
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * perf's ordered_events: a queue of records by time (a heap on time, then arrival, so equal times keep
 * their order as perf's list does) with perf's flush points. Records go out through `deliver`.
 */
export class OrderedEvents<T extends Orderable> {
  private readonly heap: Entry<T>[] = [];
  private seq = 0;
  private bytes = 0;
  private nextFlush = 0n;
  private maxTimestamp = 0n;
  private lastFlush = 0n;
  private tailTime: bigint | undefined;
  private lastTime: bigint | undefined;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  /** Counters; see {@link OrderStats}. */
  readonly stats: OrderStats = { unordered: 0, halfFlushes: 0, maxQueued: 0 };

  /** @param deliver receives each record in order; @param options queue bounds */
  constructor(
    private readonly deliver: (event: T) => void,
    options?: OrderOptions,
  ) {
    this.maxEvents = bound(options?.maxQueuedEvents, 250_000, "maxQueuedEvents");
    this.maxBytes = bound(options?.maxQueuedBytes, 64 * 1024 * 1024, "maxQueuedBytes");
  }

  /** Records queued now. */
  get size(): number {
    return this.heap.length;
  }

  /** Takes one record in input order (perf_session__process_event): queues it, or delivers it (a FINISHED_ROUND before the round it flushes, as perf does). */
  push(event: T): void {
    if (event.type >= USER_TYPE_START) {
      this.deliver(event);
      if (event.type === RecordType.FINISHED_ROUND) this.flushRound();
      return;
    }
    const time = event.time;
    if (time === undefined || time === 0n || time === U64_MAX) {
      this.deliver(event);
      return;
    }
    this.queue(event, time);
  }

  /** Delivers everything queued (perf's OE_FLUSH__FINAL, at the end of the input). */
  flushFinal(): void {
    if (this.heap.length === 0) return;
    this.nextFlush = U64_MAX;
    this.flush();
  }

  /** At FINISHED_ROUND: delivers what is due up to the previous round's bound, and takes this round's maximum as the next bound. */
  flushRound(): void {
    if (this.heap.length === 0) return;
    this.flush();
    this.nextFlush = this.maxTimestamp;
  }

  private queue(event: T, time: bigint): void {
    if (time < this.lastFlush) this.stats.unordered++;
    if (this.heap.length >= this.maxEvents || this.bytes + event.size > this.maxBytes) this.flushHalf();
    if (this.heap.length === 0 || time >= this.tailTime!) {
      this.maxTimestamp = time;
      this.tailTime = time;
    }
    this.lastTime = time;
    this.bytes += event.size;
    this.insert({ key: Number(time), time, seq: this.seq++, event });
    if (this.heap.length > this.stats.maxQueued) this.stats.maxQueued = this.heap.length;
  }

  private flushHalf(): void {
    const first = this.heap[0];
    if (first === undefined || this.lastTime === undefined) return;
    this.stats.halfFlushes++;
    this.nextFlush = first.time + (this.lastTime - first.time) / 2n;
    this.flush();
  }

  /** perf's do_flush: delivers records up to `nextFlush` (none while it is 0). */
  private flush(): void {
    const limit = this.nextFlush;
    if (limit === 0n) return;
    const lastBefore = this.lastTime ?? 0n;
    while (this.heap.length > 0 && this.heap[0]!.time <= limit) {
      const entry = this.pop();
      this.bytes -= entry.event.size;
      this.lastFlush = entry.time;
      this.deliver(entry.event);
    }
    if (this.heap.length === 0) {
      this.lastTime = undefined;
      this.tailTime = undefined;
    } else if (lastBefore <= limit) this.lastTime = this.tailTime;
  }

  private insert(entry: Entry<T>): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry<T> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && before(heap[right]!, heap[left]!) ? right : left;
        if (!before(heap[child]!, last)) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

function bound(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be an integer >= 1, got ${String(value)}`);
  return value;
}

/**
 * Records in perf's delivery order (what `perf script` and `perf report` process): kernel records by
 * time, flushed at each FINISHED_ROUND up to the previous round's last time, perf's own records where
 * they stand. perf falls back to input order when the events lack `sample_id_all`; pass the records
 * unordered in that case.
 */
export function* orderRecords<T extends Orderable = PerfRecord>(
  records: Iterable<T>,
  options?: OrderOptions,
): Generator<T> {
  const out: T[] = [];
  const orderer = new OrderedEvents<T>((event) => out.push(event), options);
  for (const record of records) {
    orderer.push(record);
    if (out.length > 0) yield* drain(out);
  }
  orderer.flushFinal();
  yield* drain(out);
}

/** {@link orderRecords} over an async iterable (a {@link PerfDataStream}'s records). */
export async function* orderRecordsAsync<T extends Orderable = PerfRecord>(
  records: AsyncIterable<T>,
  options?: OrderOptions,
): AsyncGenerator<T> {
  const out: T[] = [];
  const orderer = new OrderedEvents<T>((event) => out.push(event), options);
  for await (const record of records) {
    orderer.push(record);
    if (out.length > 0) yield* drain(out);
  }
  orderer.flushFinal();
  yield* drain(out);
}

function* drain<T>(out: T[]): Generator<T> {
  for (let i = 0; i < out.length; i++) yield out[i]!;
  out.length = 0;
}
