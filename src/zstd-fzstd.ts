// fzstd (pure JavaScript) as a ZstdEngine for the guard in ./zstd.ts: the synchronous readers' decoder, and
// the streaming reader's where neither Node's own zstd nor the wasm build can be had. Universal.
import { Decompress, type ZstdError } from "fzstd";
import type { ZstdEngine } from "./zstd.js";

/** fzstd's code for input that ends inside a frame. */
const UNEXPECTED_EOF = 5;

/** fzstd as a {@link ZstdEngine}. */
export const fzstdEngine: ZstdEngine = {
  stream(fail) {
    let out: Uint8Array[] = [];
    let held = 0;
    const fzstd = new Decompress((chunk) => {
      out.push(chunk);
      held += chunk.length;
    });
    return {
      decode(piece, final) {
        const before = held;
        try {
          fzstd.push(piece.slice(), final);
        } catch (error) {
          const code = (error as ZstdError).code;
          throw fail(code === UNEXPECTED_EOF ? "TRUNCATED" : "CORRUPT", `zstd: ${(error as Error).message}`);
        }
        return held - before;
      },
      take() {
        let all = out[0]!;
        if (out.length !== 1) {
          all = new Uint8Array(held);
          held = 0;
          for (const chunk of out) {
            all.set(chunk, held);
            held += chunk.length;
          }
        }
        out = [];
        held = 0;
        return all;
      },
    };
  },
};
