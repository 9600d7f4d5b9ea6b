/**
 * zstd's own decoder (1.5, zstddec's WebAssembly build) as a {@link ZstdEngine} for the guard in ./zstd.ts:
 * warm from its first block, where fzstd's JavaScript takes a fresh process 250-300 ms of warming up on a
 * 10 MB stream. Universal; loaded only when a stream needs it.
 *
 * @packageDocumentation
 */
import type { ZstdEngine, ZstdEngineStream, ZstdFail } from "./zstd.js";

/** zstddec's exports (zstd 1.5's decoder built by emscripten): sizes and pointers are 32-bit; an error is -code. */
interface ZstdExports {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(at: number): void;
  ZSTD_createDCtx(): number;
  ZSTD_freeDCtx(dctx: number): number;
  ZSTD_DStreamOutSize(): number;
  ZSTD_decompressStream(dctx: number, output: number, input: number): number;
}

class WasmEngine implements ZstdEngine {
  /** Frees a collected decoder's context and buffers. */
  private readonly freed = new FinalizationRegistry<number[]>((held) => {
    this.z.ZSTD_freeDCtx(held[0]!);
    for (const at of held.slice(1)) this.z.free(at);
  });

  constructor(private readonly z: ZstdExports) {}

  stream(fail: ZstdFail): ZstdEngineStream {
    const z = this.z;
    // [dctx, the in and out buffer structs (src, size, pos; dst, size, pos), the output region, the in buffer]
    const held = [z.ZSTD_createDCtx(), z.malloc(24), 0, 0];
    // zstd decodes straight into one output region, which grows (doubling) while output is held, and is
    // reused once it is taken or lent: no copy per block, one out of WebAssembly memory per take, none per lend.
    let outSize = 0;
    let inSize = 0;
    let kept = 0;
    let heap = new Uint8Array(0);
    let words = new Uint32Array(0);
    const views = () => {
      if (heap.buffer !== z.memory.buffer) {
        heap = new Uint8Array(z.memory.buffer);
        words = new Uint32Array(z.memory.buffer);
      }
    };
    const reserve = (index: 2 | 3, size: number, keep: number) => {
      const at = z.malloc(size);
      if (!at || !held[0] || !held[1]) throw fail("LIMIT", "zstd: out of WebAssembly memory");
      views();
      if (keep > 0) heap.copyWithin(at, held[index]!, held[index]! + keep);
      z.free(held[index]!);
      held[index] = at;
    };
    const stream: ZstdEngineStream = {
      decode(piece) {
        if (piece.length > inSize) {
          inSize = Math.max(piece.length, 2 * inSize);
          reserve(3, inSize, 0);
        }
        if (outSize === 0) {
          outSize = z.ZSTD_DStreamOutSize();
          reserve(2, outSize, 0);
        }
        views();
        heap.set(piece, held[3]!);
        const io = held[1]! >> 2;
        const before = kept;
        words[io] = held[3]!;
        words[io + 1] = piece.length;
        words[io + 2] = 0;
        for (;;) {
          words[io + 3] = held[2]!;
          words[io + 4] = outSize;
          words[io + 5] = kept;
          const status = z.ZSTD_decompressStream(held[0]!, held[1]! + 12, held[1]!);
          if (status < 0) throw fail(status === -64 ? "LIMIT" : "CORRUPT", `zstd: error ${-status}`);
          views();
          kept = words[io + 5]!;
          // A full output region may leave output inside zstd: grow it and call again until it is not full and the input is used.
          if (kept < outSize && words[io + 2] === piece.length) return kept - before;
          if (kept === outSize) {
            outSize *= 2;
            reserve(2, outSize, kept);
          }
        }
      },
      take() {
        views();
        const out = heap.slice(held[2]!, held[2]! + kept);
        kept = 0;
        return out;
      },
      lend() {
        views();
        const out = heap.subarray(held[2]!, held[2]! + kept);
        kept = 0;
        return out;
      },
    };
    this.freed.register(stream, held);
    return stream;
  }
}

let engine: Promise<ZstdEngine | undefined> | undefined;

/** Loads the engine once; undefined where it cannot be loaded (fzstd decodes then). */
export function loadZstdEngine(): Promise<ZstdEngine | undefined> {
  engine ??= import("zstddec/stream")
    .then(async ({ ZSTDDecoder }) => {
      let z: ZstdExports | undefined;
      // zstddec keeps its instance to itself: _init, which its init() calls, is where it is handed over.
      class Handed extends ZSTDDecoder {
        override _init(result: WebAssembly.WebAssemblyInstantiatedSource): void {
          z = result.instance.exports as unknown as ZstdExports;
          super._init(result);
        }
      }
      // Where Buffer is (Node), zstddec decodes its base64 with it, not by fetching a data: URL (undici: 40-60 ms).
      const fetch = Object.getOwnPropertyDescriptor(globalThis, "fetch");
      if (fetch && "Buffer" in globalThis) Reflect.deleteProperty(globalThis, "fetch");
      let init: Promise<void>;
      try {
        init = new Handed().init();
      } finally {
        if (fetch) Object.defineProperty(globalThis, "fetch", fetch);
      }
      await init;
      return z && new WasmEngine(z);
    })
    .catch(() => undefined);
  return engine;
}
