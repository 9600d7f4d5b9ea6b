// Node's own zstd (node:zlib, Node 22.15+ and 23.8+; libzstd in the binary) as a ZstdEngine for the guard in
// ../zstd.ts: nothing to compile, where the wasm build costs a fresh process 40-55 ms of CPU on its first -z
// recording. Node documents no synchronous streaming zstd (zstdDecompressSync is one-shot and closes its
// decoder after one input; node:zlib/iter's decompressZstdSync is Node 26's, experimental, behind a flag), so
// this drives a ZstdDecompress's handle as Node's own zstdDecompressSync does: `_handle.writeSync` with the
// result in `_writeState` (the shape all of node:zlib's classes share), without the close that
// follows. Where either is missing, or a known frame does not decode to its bytes, there is no engine here.
// node:zlib loads when a recording first needs zstd, not with the command.
import type { ZstdEngine, ZstdFail } from "../zstd.js";

/** The internals of a ZstdDecompress this engine uses. */
interface Handle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputAt: number,
    inputLength: number,
    output: Uint8Array,
    outputAt: number,
    outputLength: number,
  ): void;
}

interface Decompressor {
  _handle?: Handle;
  _writeState?: Uint32Array;
  errored: { errno?: number } | null;
  on(event: "error", listener: () => void): unknown;
}

/** What this engine takes from node:zlib (the package's @types/node is Node 20's, without zstd). */
interface Zlib {
  ZstdDecompress?: new () => Decompressor;
}

/** zstd's largest block (`ZSTD_BLOCKSIZE_MAX`): the output region's first size, as the wasm engine's. */
const BLOCK_MAX = 128 * 1024;
/** zstd's `ZSTD_error_memory_allocation`, a LIMIT as in the wasm engine. */
const MEMORY_ALLOCATION = 64;
/** `ZSTD_e_continue`: a decoder takes no flush mode, Node's handle a value in range. */
const CONTINUE = 0;

/** Node's zstd as a {@link ZstdEngine}, over node:zlib's `ZstdDecompress`. */
const native = (ZstdDecompress: new () => Decompressor): ZstdEngine => ({
  stream(fail: ZstdFail) {
    const d = new ZstdDecompress();
    // Node reports a fault by destroying the stream: `errored` says so now, the 'error' event comes later.
    d.on("error", () => {});
    // A call, not the field: TypeScript would take `errored` for null still after writeSync.
    const fault = () => d.errored;
    const handle = d._handle!;
    const state = d._writeState!;
    let out = new Uint8Array(BLOCK_MAX);
    let kept = 0;
    return {
      decode(piece) {
        const before = kept;
        for (let used = 0; ; ) {
          // Its handle is closed: a write would abort the process.
          if (fault()) throw fail("CORRUPT", "zstd: the decoder failed before");
          handle.writeSync(CONTINUE, piece, used, piece.length - used, out, kept, out.length - kept);
          const error = fault();
          if (error) throw fail(error.errno === MEMORY_ALLOCATION ? "LIMIT" : "CORRUPT", `zstd: error ${error.errno}`);
          used = piece.length - state[1]!;
          kept = out.length - state[0]!;
          if (kept < out.length && used === piece.length) return kept - before;
          if (kept === out.length) {
            const grown = new Uint8Array(2 * out.length);
            grown.set(out);
            out = grown;
          }
        }
      },
      take(lend) {
        const all = out.subarray(0, kept);
        kept = 0;
        return lend ? all : all.slice();
      },
    };
  },
});

/** "zstd" in a frame of one raw block, no checksum: the engine's check at load. */
const KNOWN = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x20, 4, 0x21, 0, 0, 0x7a, 0x73, 0x74, 0x64]);

/** Node's own zstd as a {@link ZstdEngine}, or undefined where this Node has none this engine can drive. */
export function nativeZstdEngine(): ZstdEngine | undefined {
  const { ZstdDecompress } = process.getBuiltinModule("node:zlib") as Zlib;
  if (ZstdDecompress === undefined) return undefined;
  try {
    const engine = native(ZstdDecompress);
    const stream = engine.stream((_, detail) => new Error(detail));
    stream.decode(KNOWN, true);
    return new TextDecoder().decode(stream.take()) === "zstd" ? engine : undefined;
  } catch {
    return undefined;
  }
}
