/**
 * The main entry (`buildid-cache`): the cache, the ELF reader, pprof annotation and snapshots,
 * in Node and browsers. The core loads from `build/core.wasm` beside the package; bundlers that
 * cannot serve that file use `buildid-cache/inline`.
 * @module
 */
import "./default-core.js";

export * from "./universal.js";
