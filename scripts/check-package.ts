// Packs the library and checks it as a user gets it: publint, attw, a size budget, and a fresh
// consumer project that runs it in Node, type-checks it strictly, and bundles it with Vite for Chromium.
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { launchChromium, serveStatic } from "../test/browser/harness.js";

const root = resolve(import.meta.dirname, "..");
const bin = (name: string): string => join(root, "node_modules/.bin", name);
const run = (file: string, args: string[], cwd = root): string => {
  console.log(`$ ${[file, ...args].join(" ")}`);
  return execFileSync(file, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
};

function readelfBuildId(path: string): string {
  const match = /Build ID: ([0-9a-f]+)/.exec(run("readelf", ["-n", path]));
  if (!match?.[1]) throw new Error(`readelf printed no build ID for ${path}`);
  return match[1];
}

const work = await mkdtemp(join(tmpdir(), "buildid-cache-consumer-"));
try {
  run("npm", ["run", "--silent", "build"]);
  // Built just above; --ignore-scripts keeps the build's own output out of the JSON.
  const packArgs = ["pack", "--json", "--ignore-scripts", "--pack-destination", work];
  const [packed] = JSON.parse(run("npm", packArgs)) as [{ filename: string }];
  const tarball = join(work, packed.filename);
  console.log(run(bin("publint"), ["run", tarball, "--strict"]));
  console.log(run(bin("attw"), [tarball, "--profile", "esm-only", "--format", "table-flipped"]));
  console.log(run(bin("size-limit"), []));

  const app = join(work, "app");
  await mkdir(join(app, "page"), { recursive: true });
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball], app);

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

  // (2) A strict TypeScript consumer type-checks against the shipped declarations.
  await writeFile(
    join(app, "consumer.ts"),
    `import { BuildIdCache, type BuildIdCacheStats } from "buildid-cache";
import { SlabCache, StolenBitModel, type StolenBitModelCounters } from "buildid-cache/model";
import { readBuildIdFromFile, takeCensus } from "buildid-cache/node";
import { BuildIdCacheReader, type BuildIdCacheReaderStats, type SharedCacheHandle } from "buildid-cache/shared";
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
export { address, census, counters, hex, stats, length, readerStats };
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
  console.log("typescript consumer: strict type-check passed");

  // (3) Vite bundles a page that uses the universal entry; Chromium runs it on a real ELF file.
  await cp("/bin/ls", join(app, "page/public/ls.elf"), { recursive: true });
  await writeFile(
    join(app, "page/index.html"),
    `<!doctype html><title>consumer</title><output id="result">pending</output><script type="module" src="./main.js"></script>`,
  );
  await writeFile(
    join(app, "page/main.js"),
    `import { BuildIdCache, readBuildId } from "buildid-cache";
const out = document.getElementById("result");
try {
  const bytes = new Uint8Array(await (await fetch("./ls.elf")).arrayBuffer());
  const cache = await BuildIdCache.create({ capacity: 16 });
  cache.set(42n, readBuildId(bytes).buildId);
  out.textContent = cache.get(42n);
} catch (error) {
  out.textContent = "error: " + error;
}`,
  );
  run(bin("vite"), ["build", "page", "--outDir", "dist", "--logLevel", "warn"], app);
  const server = await serveStatic(join(app, "page/dist"));
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById("result")?.textContent !== "pending");
    const shown = await page.textContent("#result");
    if (shown !== readelfBuildId("/bin/ls")) throw new Error(`the bundled page showed ${shown}`);
    console.log(`vite consumer in chromium: ${shown} (matches readelf)`);
  } finally {
    await browser.close();
    await server.close();
  }
  console.log("package checks passed");
} finally {
  await rm(work, { recursive: true, force: true });
}
