// What a shared cache's writer hands to other threads, and its check: used by the writer
// (src/cache.ts) and by readers (src/shared.ts, an entry of its own).
import type { BuildIdCache } from "./cache.js";
import { instance, integer } from "./check.js";
import type { BuildIdCacheReader } from "./shared.js";

/**
 * What {@link BuildIdCache.share} returns: structured-cloneable, so `postMessage` carries it to a
 * `worker_threads` Worker or a Web Worker, where {@link BuildIdCacheReader.attach} reads the table.
 */
export interface SharedCacheHandle {
  /** The shared build of the core, compiled. */
  readonly module: WebAssembly.Module;
  /** The shared memory holding the table. */
  readonly memory: WebAssembly.Memory;
  /** Address of the table's header in `memory`. */
  readonly header: number;
}

/**
 * `handle` checked: a compiled module, a shared memory and a header address inside it.
 * @internal
 */
export function checkHandle(handle: SharedCacheHandle): SharedCacheHandle {
  if (typeof handle !== "object" || handle === null) instance("handle", handle, Object);
  instance("handle.module", handle.module, WebAssembly.Module);
  instance("handle.memory", handle.memory, WebAssembly.Memory);
  instance("handle.memory.buffer", handle.memory.buffer, SharedArrayBuffer);
  integer("handle.header", handle.header, 0, handle.memory.buffer.byteLength - 1);
  return handle;
}
