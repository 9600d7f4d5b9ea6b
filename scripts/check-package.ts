// Packs the library and checks it as a user gets it: publint, attw, the size budgets, and a fresh
// consumer project that imports and requires it in Node, type-checks it strictly (nodenext and
// bundler), and bundles it with Vite, esbuild and webpack for pages that Chromium runs.
import { execFileSync, spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { launchChromium, serveStatic } from "../test/browser/harness.js";

const root = resolve(import.meta.dirname, "..");
const bin = (name: string): string => join(root, "node_modules/.bin", name);
// Each command's seconds follow it, so a CI log shows where the check's time goes.
const run = (file: string, args: string[], cwd = root): string => {
  console.log(`$ ${[file, ...args].join(" ")}`);
  const started = performance.now();
  try {
    return execFileSync(file, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  } finally {
    console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
};

function readelfBuildId(path: string): string {
  const match = /Build ID: ([0-9a-f]+)/.exec(run("readelf", ["-n", path]));
  if (!match?.[1]) throw new Error(`readelf printed no build ID for ${path}`);
  return match[1];
}

const work = await mkdtemp(join(tmpdir(), "buildid-cache-consumer-"));
try {
  // Packing builds only what is out of date, its output on stderr, so stdout is the JSON alone.
  const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work])) as [{ filename: string }];
  const tarball = join(work, packed.filename);
  console.log(run(bin("publint"), ["run", tarball, "--strict"]));
  console.log(run(bin("attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped"]));
  console.log(run(bin("size-limit"), []));

  const app = join(work, "app");
  await mkdir(join(app, "page"), { recursive: true });
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // better-sqlite3's install compiles it again (77 s of CI): it is the same version and Node, so its binding is copied.
  run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", tarball], app);
  const binding = join("build", "Release", "better_sqlite3.node");
  await mkdir(join(app, "node_modules", "better-sqlite3", "build", "Release"), { recursive: true });
  await cp(join("node_modules", "better-sqlite3", binding), join(app, "node_modules", "better-sqlite3", binding));

  // (1) Node ESM: every entry, a real round trip, a build ID from a real ELF file; the model and
  // Node entries share no name, so neither can shadow the other.
  const elf = process.execPath;
  await writeFile(
    join(app, "node.mjs"),
    `import { BuildIdCache } from "buildid-cache";
import * as model from "buildid-cache/model";
import * as node from "buildid-cache/node";
import { BuildIdCacheReader } from "buildid-cache/shared";
const clash = Object.keys(model).filter((name) => name in node);
if (clash.length > 0) throw new Error("model and node entries both export " + clash.join(", "));
const cache = await BuildIdCache.create({ capacity: 64 });
const { buildId } = await node.readBuildIdFromFile(${JSON.stringify(elf)});
cache.set(0xffff888012345678n, buildId);
const stolen = await model.StolenBitModel.create({ capacity: 4 });
const file = stolen.open(stolen.allocate());
stolen.attach(file, buildId);
if (stolen.lookup(file) !== cache.get(0xffff888012345678n)) throw new Error("the model lost the build ID");
const shared = await BuildIdCache.create({ capacity: 64, shared: true });
shared.set(1n, buildId);
const reader = await BuildIdCacheReader.attach(shared.share());
if (reader.get(1n) !== cache.get(0xffff888012345678n)) throw new Error("the shared reader lost the build ID");
console.log(cache.get(0xffff888012345678n));`,
  );
  const fromNode = run(process.execPath, ["node.mjs"], app).trim();
  if (fromNode !== readelfBuildId(elf)) throw new Error(`node consumer read ${fromNode}, readelf says otherwise`);
  console.log(`node consumer: ${fromNode} (matches readelf)`);

  // (1b) buildid-cache/perf: a recording made here, listed and converted as perf lists it.
  const recording = join(work, "ls.data");
  const recorded = spawnSync(
    "perf",
    ["record", "-q", "-e", "cpu-clock", "-o", recording, "--", "ls", "-R", "/usr/lib"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      encoding: "utf8",
    },
  );
  if (recorded.status === 0) {
    await writeFile(
      join(app, "perf.mjs"),
      `import { readFile } from "node:fs/promises";
import { convertPerfData, listBuildIds, AddressSpaces } from "buildid-cache/perf";
import { recordedFileReader, BuildIdResolver } from "buildid-cache/node";
const bytes = new Uint8Array(await readFile(${JSON.stringify(recording)}));
const { lines } = await listBuildIds(bytes);
const { summary } = await convertPerfData(bytes, { readBuildId: recordedFileReader(await BuildIdResolver.create()) });
if (!(new AddressSpaces() instanceof AddressSpaces)) throw new Error("no AddressSpaces");
if (summary.samples === 0) throw new Error("no samples converted");
console.log(lines.map((l) => l.buildId.padEnd(40) + " " + l.name).join("\\n"));`,
    );
    const ours = run(process.execPath, ["perf.mjs"], app).trim();
    const perfs = run("perf", ["buildid-list", "-i", recording]).trim();
    const vdso = (text: string) => text.replace(/\/tmp\/perf-vdso\.so-\w+/g, "[vdso]");
    if (vdso(ours) !== vdso(perfs))
      throw new Error(`buildid-cache/perf listed:\n${ours}\nperf buildid-list:\n${perfs}`);
    console.log(`perf consumer: ${ours.split("\n").length} build-ID lines, as perf buildid-list prints them`);
    // The installed command (the bundled dist/node/cli.js): the same lines, a pprof, and the census (the WebAssembly core).
    const cli = join(app, "node_modules/.bin/buildid-cache");
    const listed = run(cli, ["buildid-list", "-i", recording], app).trim();
    if (vdso(listed) !== vdso(perfs))
      throw new Error(`buildid-cache buildid-list:\n${listed}\nperf buildid-list:\n${perfs}`);
    const converted = JSON.parse(
      run(cli, ["pprof", recording, "-o", join(work, "ls.pb.gz"), "--trust-paths", "--json"], app),
    ) as { samples: number };
    if (converted.samples === 0) throw new Error("buildid-cache pprof converted no samples");
    const census = JSON.parse(run(cli, ["census", "--json"], app)) as { cache: { size: number } };
    console.log(
      `installed command: buildid-list as perf prints it, pprof of ${converted.samples} samples, census cache of ${census.cache.size} entries`,
    );
  } else console.log(`perf consumer: not converted, perf cannot record here: ${recorded.stderr.trim()}`);

  // (2) A strict TypeScript consumer type-checks against the shipped declarations.
  await writeFile(
    join(app, "consumer.ts"),
    `import { BuildIdCache, type BuildIdCacheStats } from "buildid-cache";
import { SlabCache, StolenBitModel, type StolenBitModelCounters } from "buildid-cache/model";
import { readBuildIdFromFile, takeCensus } from "buildid-cache/node";
import { BuildIdCacheReader, type BuildIdCacheReaderStats, type SharedCacheHandle } from "buildid-cache/shared";
import { AddressSpaces, type ConversionSummary, convertPerfData, type Lookup, readPerfData } from "buildid-cache/perf";
const summary: ConversionSummary = (await convertPerfData(new Uint8Array(0)).catch(() => undefined))!.summary;
const looked: Lookup = new AddressSpaces().lookup(1, 0x1000n);
const reader: typeof readPerfData = readPerfData;
const cache: BuildIdCache = await BuildIdCache.create({ capacity: 8 });
const handle: SharedCacheHandle = (await BuildIdCache.create({ capacity: 8, shared: true })).share();
const readerStats: BuildIdCacheReaderStats = (await BuildIdCacheReader.attach(handle)).stats();
const slab = new SlabCache({ placement: "sequential" });
const address: bigint = slab.address(slab.allocate());
const counters: StolenBitModelCounters = (await StolenBitModel.create({ capacity: 8 })).counters;
const census: typeof takeCensus = takeCensus;
cache.set(1n, new Uint8Array([1, 2, 3]));
const hex: string | undefined = cache.get(1n);
const stats: BuildIdCacheStats = cache.stats();
const info = await readBuildIdFromFile("/bin/ls");
const length: number = info.length;
export { address, census, counters, hex, stats, length, looked, reader, readerStats, summary };
`,
  );
  await writeFile(
    join(app, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: "nodenext",
        target: "es2022",
        lib: ["es2023", "dom"],
        noEmit: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules/@types")],
      },
      files: ["consumer.ts"],
    }),
  );
  run(bin("tsc"), ["-p", "tsconfig.json"], app);
  console.log("typescript consumer (nodenext): strict type-check passed");
  await writeFile(
    join(app, "tsconfig.bundler.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: "esnext",
        moduleResolution: "bundler",
        target: "es2022",
        lib: ["es2023", "dom"],
        noEmit: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules/@types")],
      },
      files: ["consumer.ts", "inline.ts"],
    }),
  );
  await writeFile(
    join(app, "inline.ts"),
    `import { BuildIdCache } from "buildid-cache/inline";
export const inline: Promise<BuildIdCache> = BuildIdCache.create({ capacity: 8 });
`,
  );
  run(bin("tsc"), ["-p", "tsconfig.bundler.json"], app);
  console.log("typescript consumer (bundler): strict type-check passed");

  // (3) CommonJS: require() of every entry (Node 20.19 and later load ES modules this way).
  await writeFile(
    join(app, "require.cjs"),
    `const { BuildIdCache } = require("buildid-cache");
const node = require("buildid-cache/node");
const inline = require("buildid-cache/inline");
require("buildid-cache/model");
require("buildid-cache/shared");
require("buildid-cache/perf");
(async () => {
  const { buildId } = await node.readBuildIdFromFile(${JSON.stringify(elf)});
  const cache = await BuildIdCache.create({ capacity: 4 });
  const embedded = await inline.BuildIdCache.create({ capacity: 4 });
  cache.set(1n, buildId);
  embedded.set(1n, buildId);
  if (embedded.get(1n) !== cache.get(1n)) throw new Error("the inline entry lost the build ID");
  console.log(cache.get(1n));
})();`,
  );
  const fromRequire = run(process.execPath, ["require.cjs"], app).trim();
  if (fromRequire !== readelfBuildId(elf)) throw new Error(`require() consumer read ${fromRequire}`);
  console.log(`commonjs consumer: ${fromRequire} (matches readelf)`);

  // (4) Bundlers: a page per bundler and entry, each loaded in Chromium, which reads /bin/ls's build
  // ID, caches it and looks it up again. The inline entry's output holds no .wasm file; esbuild
  // copies no asset, so the main entry's core cannot load there and the error names the inline entry.
  const lsId = readelfBuildId("/bin/ls");
  const pageScript = (entry: string): string => `import { BuildIdCache, readBuildId } from "${entry}";
const out = document.getElementById("result");
(async () => {
  try {
    const bytes = new Uint8Array(await (await fetch("./ls.elf")).arrayBuffer());
    const cache = await BuildIdCache.create({ capacity: 16 });
    cache.set(42n, readBuildId(bytes).buildId);
    out.textContent = JSON.stringify({ buildId: cache.get(42n), hits: cache.stats().hits });
  } catch (error) {
    out.textContent = JSON.stringify({ error: String(error?.message ?? error) });
  }
})();`;
  const html = `<!doctype html><title>consumer</title><output id="result">pending</output><script type="module" src="./main.js"></script>`;
  interface Page {
    name: string;
    dir: string;
    wasm: "some" | "none";
    expect: "hit" | "inline hint";
  }
  const pages: Page[] = [];
  const source = async (name: string, entry: string): Promise<string> => {
    await mkdir(join(app, "src", name), { recursive: true });
    const file = join(app, "src", name, "main.js");
    await writeFile(file, pageScript(entry));
    return file;
  };
  const finish = async (page: Page): Promise<void> => {
    await writeFile(join(page.dir, "index.html"), html);
    await cp("/bin/ls", join(page.dir, "ls.elf"));
    pages.push(page);
  };

  for (const [name, entry] of [
    ["vite-main", "buildid-cache"],
    ["vite-inline", "buildid-cache/inline"],
  ] as const) {
    const root = join(app, "vite", name);
    await mkdir(root, { recursive: true });
    await writeFile(join(root, "index.html"), html);
    await writeFile(join(root, "main.js"), pageScript(entry));
    run(bin("vite"), ["build", root, "--outDir", join(root, "dist"), "--logLevel", "warn"], app);
    await cp("/bin/ls", join(root, "dist", "ls.elf"));
    pages.push({ name, dir: join(root, "dist"), wasm: entry.endsWith("inline") ? "none" : "some", expect: "hit" });
  }

  const esbuild = await import("esbuild");
  for (const [name, entry, expect] of [
    ["esbuild-inline", "buildid-cache/inline", "hit"],
    ["esbuild-main", "buildid-cache", "inline hint"],
  ] as const) {
    const dir = join(app, "out", name);
    await esbuild.build({
      entryPoints: [await source(name, entry)],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      outfile: join(dir, "main.js"),
      absWorkingDir: app,
      logLevel: "warning",
    });
    await finish({ name, dir, wasm: "none", expect });
  }

  const webpack = (await import("webpack")).default;
  for (const [name, entry] of [
    ["webpack-main", "buildid-cache"],
    ["webpack-inline", "buildid-cache/inline"],
  ] as const) {
    const dir = join(app, "out", name);
    const config = {
      mode: "production" as const,
      context: app,
      entry: await source(name, entry),
      output: { path: dir, filename: "main.js" },
      performance: false as const,
    };
    const stats = await new Promise<import("webpack").Stats>((done, fail) =>
      webpack(config, (error, result) =>
        error || !result ? fail(error ?? new Error("webpack gave no stats")) : done(result),
      ),
    );
    if (stats.hasErrors()) throw new Error(`webpack ${name}: ${stats.toString("errors-only")}`);
    await finish({ name, dir, wasm: entry.endsWith("inline") ? "none" : "some", expect: "hit" });
  }

  const browser = await launchChromium();
  try {
    for (const page of pages) {
      const wasmFiles = (await readdir(page.dir, { recursive: true })).filter((file) => file.endsWith(".wasm"));
      if ((wasmFiles.length > 0 ? "some" : "none") !== page.wasm) {
        throw new Error(`${page.name} emitted ${wasmFiles.length ? wasmFiles.join(", ") : "no .wasm file"}`);
      }
      const server = await serveStatic(page.dir);
      try {
        const tab = await browser.context.newPage();
        await tab.goto(server.url);
        await tab.waitForFunction(() => document.getElementById("result")?.textContent !== "pending");
        const shown = JSON.parse((await tab.textContent("#result")) ?? "{}") as {
          buildId?: string;
          hits?: number;
          error?: string;
        };
        await tab.close();
        if (page.expect === "hit" && (shown.buildId !== lsId || shown.hits !== 1)) {
          throw new Error(`${page.name} in chromium showed ${JSON.stringify(shown)}, expected ${lsId} and 1 hit`);
        }
        if (page.expect === "inline hint" && !shown.error?.includes('"buildid-cache/inline"')) {
          throw new Error(
            `${page.name} in chromium showed ${JSON.stringify(shown)}, expected an error naming the inline entry`,
          );
        }
        const what = page.expect === "hit" ? `${shown.buildId} (matches readelf), 1 hit` : `"${shown.error}"`;
        console.log(`${page.name} in chromium: ${what}; .wasm files: ${wasmFiles.join(", ") || "none"}`);
      } finally {
        await server.close();
      }
    }
  } finally {
    await browser.close();
  }
  console.log("package checks passed");
} finally {
  await rm(work, { recursive: true, force: true });
}
