/**
 * `buildid-list -H`'s per-sample chain in WebAssembly (assembly/hits.ts, embedded): compiled by the
 * baseline compiler at once, where the same chain in JavaScript ran a fresh process's ~100,000 samples in
 * V8's interpreter and baseline tier, boxing every 64-bit half it touched. Universal.
 *
 * @module
 */
import hitsWasmBase64 from "../../build/hits-wasm-inline.js";

/** @internal What JavaScript does for the chain: deliver the earliest queued event; look up a sample the cache could not answer. */
export interface HitsImports {
  deliver(): void;
  miss(pid: number, ipHi: number, ipLo: number, timeHi: number, timeLo: number, hasTime: number, slot: number): void;
}

/** @internal assembly/hits.ts's exports (u32 arguments may be given as any uint32 number). */
export interface HitsExports {
  readonly memory: WebAssembly.Memory;
  /** Bytes of the window {@link HitsExports.init} reserves for records: any record fits. */
  readonly WINDOW: WebAssembly.Global;
  /** Why {@link HitsExports.scan} stopped: 1 when the record at its answer does not end inside the bytes it was given. */
  readonly cut: WebAssembly.Global;
  init(): number;
  configure(on: boolean, le: boolean, ip: number, tid: number, time: number, min: number, unordered: boolean): void;
  bounds(records: number, bytes: number): void;
  changed(): void;
  setEvents(count: number, bytes: number, hi: number, lo: number, arrival: number): void;
  fill(
    slot: number,
    pid: number,
    startHi: number,
    startLo: number,
    lastHi: number,
    lastLo: number,
    sinceHi: number,
    sinceLo: number,
  ): void;
  scan(from: number, to: number): number;
  take(pid: number, mode: number, ipHi: number, ipLo: number, timeHi: number, timeLo: number, hasTime: boolean): void;
  queueEvent(hi: number, lo: number, bytes: number): number;
  round(): void;
  finish(): void;
}

let compiled: WebAssembly.Module | undefined;

/** @internal A fresh instance of the chain (one per listing: its state is the listing's), its module compiled once. */
export function instantiateHits(imports: HitsImports): HitsExports {
  compiled ??= new WebAssembly.Module(Uint8Array.from(atob(hitsWasmBase64), (c) => c.charCodeAt(0)));
  const instance = new WebAssembly.Instance(compiled, {
    env: {
      abort() {
        throw new RangeError("buildid-list: out of WebAssembly memory for the sample queue");
      },
    },
    hits: { deliver: imports.deliver, miss: imports.miss },
  });
  return instance.exports as unknown as HitsExports;
}
