/**
 * The universal entry with the WebAssembly core embedded as base64, for bundlers that cannot
 * handle a `.wasm` asset. It exports the same API as the main entry; importing it makes every
 * cache created without a `wasm` option use the embedded core, so no file is fetched, and its
 * module graph names no `.wasm` file, so bundlers emit none. Only `build/core.wasm` is embedded:
 * a cache created with `shared: true` here needs its `wasm` option (`build/core.shared.wasm`).
 *
 * @example
 * ```ts
 * import { BuildIdCache } from "buildid-cache/inline";
 * const cache = await BuildIdCache.create({ capacity: 1024 });
 * ```
 * @module
 */
import coreWasmBase64 from "../build/core-wasm-inline.js";
import { setDefaultWasm } from "./wasm.js";

setDefaultWasm(Uint8Array.from(atob(coreWasmBase64), (char) => char.charCodeAt(0)));

export * from "./universal.js";
