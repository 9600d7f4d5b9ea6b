/**
 * zstd's own decoder (1.5, zstddec's WebAssembly build) as a {@link ZstdEngine} for the guard in ./zstd.ts:
 * warm from its first block, where fzstd's JavaScript takes a fresh process 250-300 ms of warming up on a
 * 10 MB stream. Universal; loaded only when a stream needs it.
 *
 * @packageDocumentation
 */
import type { ZstdEngine, ZstdFail } from "./zstd.js";

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

  stream(fail: ZstdFail): (piece: Uint8Array) => Uint8Array[] {
    const z = this.z;
    const outSize = z.ZSTD_DStreamOutSize();
    // [dctx, the in and out buffer structs (src, size, pos; dst, size, pos), the out buffer, the in buffer]
    const held = [z.ZSTD_createDCtx(), z.malloc(24), z.malloc(outSize), 0];
    let inSize = 0;
    const decode = (piece: Uint8Array): Uint8Array[] => {
      const [dctx, io, out] = held as [number, number, number, number];
      if (piece.length > inSize) {
        z.free(held[3]!);
        inSize = Math.max(piece.length, 2 * inSize);
        held[3] = z.malloc(inSize);
      }
      if (!dctx || !io || !out || !held[3]) throw fail("LIMIT", "zstd: out of WebAssembly memory");
      new Uint8Array(z.memory.buffer).set(piece, held[3]);
      new Uint32Array(z.memory.buffer, io, 6).set([held[3], piece.length, 0, out, outSize, 0]);
      const got: Uint8Array[] = [];
      for (;;) {
        const status = z.ZSTD_decompressStream(dctx, io + 12, io);
        if (status < 0) throw fail(status === -64 ? "LIMIT" : "CORRUPT", `zstd: error ${-status}`);
        const s = new Uint32Array(z.memory.buffer, io, 6);
        if (s[5]! > 0) got.push(new Uint8Array(z.memory.buffer, out, s[5]).slice());
        // A full output buffer may leave output inside: call again until it is not full and the input is used.
        if (s[5]! < outSize && s[2]! === piece.length) return got;
        s[5] = 0;
      }
    };
    this.freed.register(decode, held);
    return decode;
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
