// Every test runs against the debug builds of the core, whose assertions are compiled in.
import { setDefaultWasm } from "../src/wasm.js";

setDefaultWasm(
  new URL("../build/core.debug.wasm", import.meta.url),
  new URL("../build/core.shared.debug.wasm", import.meta.url),
);
