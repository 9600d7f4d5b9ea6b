/**
 * zstd's own decoder (1.5.6, built for wasm32 by scripts/build-zstd-wasm.sh and embedded as base64) as a
 * {@link ZstdEngine} for the guard in ./zstd.ts: warm from its first block, where fzstd's JavaScript takes a
 * fresh process 250-300 ms of warming up on a 10 MB stream. Universal; loaded only when a stream needs it.
 * zstd decodes straight into one output region in its memory, which doubles while full (a full region may
 * leave output inside zstd: it grows and zstd is called again until the region is not full and the input is
 * used) and is reused once taken: no copy per block, and one per take or none when lent. `grow` makes
 * held[index] `size` bytes, keeping its first `keep`.
 *
 * @packageDocumentation
 */
import type { ZstdEngine, ZstdFail } from "./zstd.js";
import zstdWasmBase64 from "./zstd-wasm-module.js";

/** The module's exports (zstd's and scripts/zstd-wasm.c's allocator): sizes and pointers are 32-bit; an error is -code. */
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

  stream(fail: ZstdFail): ReturnType<ZstdEngine["stream"]> {
    const z = this.z;
    // [dctx, the in and out buffer structs (src, size, pos; dst, size, pos), the out region, the in buffer]
    const held = [z.ZSTD_createDCtx(), z.malloc(24), 0, 0];
    let outSize = 0;
    let inSize = 0;
    let kept = 0;
    const grow = (index: number, size: number, keep: number) => {
      const at = z.malloc(size);
      if (!at || !held[0] || !held[1]) throw fail("LIMIT", "zstd: out of WebAssembly memory");
      new Uint8Array(z.memory.buffer).copyWithin(at, held[index]!, held[index]! + keep);
      z.free(held[index]!);
      held[index] = at;
      return size;
    };
    const stream = {
      decode(piece: Uint8Array): number {
        if (piece.length > inSize) inSize = grow(3, Math.max(piece.length, 2 * inSize), 0);
        outSize ||= grow(2, z.ZSTD_DStreamOutSize(), 0);
        const [dctx, io, , input] = held as [number, number, number, number];
        new Uint8Array(z.memory.buffer).set(piece, input);
        const before = kept;
        for (let used = 0; ; ) {
          new Uint32Array(z.memory.buffer, io, 6).set([input, piece.length, used, held[2]!, outSize, kept]);
          const status = z.ZSTD_decompressStream(dctx, io + 12, io);
          if (status < 0) throw fail(status === -64 ? "LIMIT" : "CORRUPT", `zstd: error ${-status}`);
          const s = new Uint32Array(z.memory.buffer, io, 6);
          used = s[2]!;
          kept = s[5]!;
          if (kept < outSize && used === piece.length) return kept - before;
          if (kept === outSize) outSize = grow(2, 2 * outSize, kept);
        }
      },
      take(lend?: boolean): Uint8Array {
        const out = new Uint8Array(z.memory.buffer, held[2], kept);
        kept = 0;
        return lend ? out : out.slice();
      },
    };
    this.freed.register(stream, held);
    return stream;
  }
}

/** `text`'s bytes, by a native decoder where there is one (the standard's, Node's Buffer): a loop over atob's text costs a cold process 8-12 ms. */
function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const standard = (Uint8Array as { fromBase64?: (text: string) => Uint8Array<ArrayBuffer> }).fromBase64;
  if (standard) return standard.call(Uint8Array, text);
  const buffer = (globalThis as { Buffer?: { from(text: string, encoding: "base64"): Uint8Array<ArrayBuffer> } })
    .Buffer;
  if (buffer) return buffer.from(text, "base64");
  const chars = atob(text);
  const bytes = new Uint8Array(chars.length);
  for (let i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
  return bytes;
}

let engine: Promise<ZstdEngine | undefined> | undefined;

/** Loads the engine once; undefined where it cannot be loaded (fzstd decodes then). */
export function loadZstdEngine(): Promise<ZstdEngine | undefined> {
  engine ??= Promise.resolve()
    .then(() => WebAssembly.instantiate(fromBase64(zstdWasmBase64)))
    .then(({ instance }) => new WasmEngine(instance.exports as unknown as ZstdExports))
    .catch(() => undefined);
  return engine;
}
