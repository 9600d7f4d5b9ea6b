/**
 * Points caches created without a `wasm` option at the package's own `build/core.wasm` and
 * `build/core.shared.wasm`, unless the inline entry (or a test) set a core first. The entries that
 * ship those files import it; the inline entry does not, so bundlers emit no `.wasm` for it.
 * @module
 */
import { setFallbackWasm } from "./wasm.js";

setFallbackWasm(new URL("../build/core.wasm", import.meta.url), new URL("../build/core.shared.wasm", import.meta.url));
