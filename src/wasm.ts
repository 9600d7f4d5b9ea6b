// Loads the core once per source; each cache gets its own instance and linear memory (a shared
// cache's threads each their own instance over one shared memory).
import { instantiateSync } from "@assemblyscript/loader";

/** Where the core's WebAssembly comes from: a compiled module, its bytes, or a URL to them. */
export type WasmSource = WebAssembly.Module | BufferSource | URL | string;

/** The raw exports of `assembly/index.ts` (called directly: no wrapper on the hot paths). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  readonly BUILD_ID_MAX: WebAssembly.Global;
  readonly KEY_OFFSET: WebAssembly.Global;
  readonly ID_OFFSET: WebAssembly.Global;
  readonly META_OFFSET: WebAssembly.Global;
  readonly LEN_MASK: WebAssembly.Global;
  readonly REF_BIT: WebAssembly.Global;
  readonly ENTRY_SIZE: WebAssembly.Global;
  readonly BUCKET_SLOTS: WebAssembly.Global;
  readonly OVER_OFFSET: WebAssembly.Global;
  readonly SLOT_ENTRY_OFFSET: WebAssembly.Global;
  readonly BUCKET_SIZE: WebAssembly.Global;
  readonly OVER_STUCK: WebAssembly.Global;
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
  readonly reach: WebAssembly.Global;
  init(capacity: number): number;
  slotCount(): number;
  bucketAddress(): number;
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

/** The shared build's exports (`assembly/shared.ts`): the core's, plus attaching and reading from other threads. */
export interface SharedCoreExports extends CoreExports {
  readonly ERR_WRITER: WebAssembly.Global;
  headerAddress(): number;
  attach(header: number): number;
  attachWriter(header: number): number;
  release(): void;
  sharedSize(): number;
  readLookup(key: bigint, dst: number): number;
  readContains(key: bigint): number;
  readMany(n: number): number;
  contendedMisses(): bigint;
  readBegin(): bigint;
  readProbe(key: bigint, dst: number): number;
  readEnd(begun: bigint): number;
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

// Bundlers that leave the core out of their output (esbuild, a copied bundle) make the URL miss.
const INLINE_HINT =
  '; a bundler that does not copy build/core.wasm beside the bundle needs the entry "buildid-cache/inline", which embeds the core';

// "\0asm": a server's fallback page (index.html for any path) is not a core.
const isWasm = (bytes: Uint8Array): boolean =>
  bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;

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
    if (!response.ok) throw new Error(`cannot load the core from ${url.href}: HTTP ${response.status}${INLINE_HINT}`);
    if (response.headers.get("content-type")?.split(";")[0] === "application/wasm") {
      return WebAssembly.compileStreaming(response);
    }
    // Servers that do not send application/wasm defeat streaming; compile the bytes instead.
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!isWasm(bytes)) {
      const type = response.headers.get("content-type") ?? "no content type";
      throw new Error(`cannot load the core from ${url.href}: not WebAssembly (${type})${INLINE_HINT}`);
    }
    return WebAssembly.compile(bytes);
  }
  return WebAssembly.compile(source);
}

/** A build of the core: its default source, once an entry has set one, and once compiled, its module. */
interface Build {
  source?: WasmSource;
  module?: Promise<WebAssembly.Module>;
}

// Set by the entries (default-core.ts, inline.ts), so the inline entry's graph names no .wasm file.
const plain: Build = {};
const shared: Build = {};

/**
 * Replaces the wasm that caches load when `create` is given none (tests load the debug builds).
 * @param sharedSource the same for caches created with `shared: true`.
 * @internal
 */
export function setDefaultWasm(source: WasmSource, sharedSource?: WasmSource): void {
  plain.source = source;
  plain.module = undefined;
  if (sharedSource !== undefined) {
    shared.source = sharedSource;
    shared.module = undefined;
  }
}

/**
 * Sets the default sources {@link setDefaultWasm} has not set: the package's own `build/` files,
 * from the entries that ship them beside the code.
 * @internal
 */
export function setFallbackWasm(source: WasmSource, sharedSource: WasmSource): void {
  plain.source ??= source;
  shared.source ??= sharedSource;
}

/**
 * The module of `source`, or of `build`'s default compiled once per process.
 * @throws Error when `source` is undefined and no entry set a default (a shared cache under the inline entry).
 */
export function compileCore(source: WasmSource | undefined, isShared = false): Promise<WebAssembly.Module> {
  requireLittleEndian();
  if (source !== undefined) return compile(source);
  const build = isShared ? shared : plain;
  if (build.source === undefined) {
    return Promise.reject(
      new Error(
        isShared
          ? "no core for a shared cache: buildid-cache/inline embeds only build/core.wasm; pass the wasm option (build/core.shared.wasm, its bytes or URL)"
          : "no core to load: import the package through one of its entries, or pass the wasm option",
      ),
    );
  }
  build.module ??= compile(build.source);
  build.module.catch(() => (build.module = undefined));
  return build.module;
}

/**
 * Instantiates a compiled core; a shared build over `memory`, the shared memory it imports.
 * @throws TypeError when the module is not the core (or not its shared build, given `memory`).
 */
export async function instantiateModule(module: WebAssembly.Module, memory?: WebAssembly.Memory): Promise<CoreExports> {
  // The loader's async instantiate tests `source instanceof Response`, which on Node loads undici (about 50 ms).
  const { instance } = instantiateSync(module, memory ? { env: { memory } } : {});
  const core = instance.exports as unknown as CoreExports;
  if (typeof core.init !== "function" || !(core.memory instanceof WebAssembly.Memory)) {
    throw new TypeError("the WebAssembly module is not the buildid-cache core: it exports no init() and memory");
  }
  if (memory && typeof (core as SharedCoreExports).readLookup !== "function") {
    throw new TypeError("the WebAssembly module is not the shared build of the core: it exports no readLookup()");
  }
  return core;
}

/** Compiles the default core once per process and instantiates it; `source` overrides it. */
export async function instantiateCore(source?: WasmSource): Promise<CoreExports> {
  return instantiateModule(await compileCore(source));
}
