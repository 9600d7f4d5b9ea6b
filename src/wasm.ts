// Loads the core once per source; each cache gets its own instance and linear memory.
import { instantiate } from "@assemblyscript/loader";

/** Where the core's WebAssembly comes from: a compiled module, its bytes, or a URL to them. */
export type WasmSource = WebAssembly.Module | BufferSource | URL | string;

/** The raw exports of `assembly/index.ts` (called directly: no wrapper on the hot paths). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  readonly BUILD_ID_MAX: WebAssembly.Global;
  readonly KEY_OFFSET: WebAssembly.Global;
  readonly ID_OFFSET: WebAssembly.Global;
  readonly LEN_OFFSET: WebAssembly.Global;
  readonly REF_OFFSET: WebAssembly.Global;
  readonly SPARE_OFFSET: WebAssembly.Global;
  readonly ENTRY_SIZE: WebAssembly.Global;
  readonly MAX_CAPACITY: WebAssembly.Global;
  readonly BATCH: WebAssembly.Global;
  readonly OK: WebAssembly.Global;
  readonly INSERTED: WebAssembly.Global;
  readonly UPDATED: WebAssembly.Global;
  readonly INSERTED_EVICTING: WebAssembly.Global;
  readonly ERR_CAPACITY: WebAssembly.Global;
  readonly ERR_NO_MEMORY: WebAssembly.Global;
  readonly ERR_LENGTH: WebAssembly.Global;
  readonly capacity: WebAssembly.Global;
  readonly count: WebAssembly.Global;
  readonly ioKeys: WebAssembly.Global;
  readonly ioIds: WebAssembly.Global;
  readonly ioLens: WebAssembly.Global;
  readonly ioEvicted: WebAssembly.Global;
  readonly evictedKey: WebAssembly.Global;
  readonly inserts: WebAssembly.Global;
  readonly updates: WebAssembly.Global;
  readonly hits: WebAssembly.Global;
  readonly misses: WebAssembly.Global;
  readonly removals: WebAssembly.Global;
  readonly evictions: WebAssembly.Global;
  readonly probeSum: WebAssembly.Global;
  readonly probeMax: WebAssembly.Global;
  init(capacity: number): number;
  slotCount(): number;
  reservedBytes(): number;
  insert(key: bigint, src: number, len: number): number;
  lookup(key: bigint, dst: number): number;
  contains(key: bigint): number;
  remove(key: bigint): number;
  clear(): void;
  lookupMany(n: number): number;
  insertMany(n: number): number;
  removeMany(n: number): number;
  entryAddress(i: number): number;
  measureProbes(): void;
  verify(): void;
}

/** Whether typed arrays on this host are little-endian, as wasm memory always is. */
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The one byte-order rule: the cache copies keys and build IDs between typed arrays and linear
 * memory as they are, so it runs only on a little-endian host and refuses to load elsewhere.
 * @param littleEndian the host's byte order (tests pass `false`).
 * @internal
 */
export function requireLittleEndian(littleEndian = HOST_LE): void {
  if (!littleEndian) {
    throw new Error("buildid-cache needs a little-endian host: typed arrays here are big-endian, wasm memory is not");
  }
}

interface NodeFs {
  readFile(path: URL): Promise<Uint8Array<ArrayBuffer>>;
}

// No Node import here: this module also runs in browsers. Node 20.16+ hands built-ins out at run time.
function nodeFs(): NodeFs | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process;
  return proc?.getBuiltinModule?.("node:fs/promises") as NodeFs | undefined;
}

async function compile(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (typeof source === "string" || source instanceof URL) {
    const url = new URL(source, (globalThis as { location?: { href: string } }).location?.href);
    if (url.protocol === "file:") {
      const fs = nodeFs();
      if (!fs) throw new Error(`cannot read ${url.href}: no file system here (Node 20.16+ or pass the wasm bytes)`);
      return WebAssembly.compile(await fs.readFile(url));
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`cannot load the core from ${url.href}: HTTP ${response.status}`);
    if (response.headers.get("content-type")?.split(";")[0] === "application/wasm") {
      return WebAssembly.compileStreaming(response);
    }
    // Servers that do not send application/wasm defeat streaming; compile the bytes instead.
    return WebAssembly.compile(await response.arrayBuffer());
  }
  return WebAssembly.compile(source);
}

let defaultSource: WasmSource = new URL("../build/core.wasm", import.meta.url);
let defaultModule: Promise<WebAssembly.Module> | undefined;

/**
 * Replaces the wasm that caches load when `create` is given none (tests load the debug build).
 * @internal
 */
export function setDefaultWasm(source: WasmSource): void {
  defaultSource = source;
  defaultModule = undefined;
}

/** Compiles the default core once per process and instantiates it; `source` overrides it. */
export async function instantiateCore(source?: WasmSource): Promise<CoreExports> {
  requireLittleEndian();
  let module: Promise<WebAssembly.Module>;
  if (source === undefined) {
    defaultModule ??= compile(defaultSource);
    defaultModule.catch(() => (defaultModule = undefined));
    module = defaultModule;
  } else {
    module = compile(source);
  }
  const { instance } = await instantiate(await module, {});
  const core = instance.exports as unknown as CoreExports;
  if (typeof core.init !== "function" || !(core.memory instanceof WebAssembly.Memory)) {
    throw new TypeError("the WebAssembly module is not the buildid-cache core: it exports no init() and memory");
  }
  return core;
}
