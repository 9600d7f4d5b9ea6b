// Lets `npm pack` build once: `write` records a hash of everything the build reads after a build,
// `check` exits 0 when that hash still holds and every output is there, 1 otherwise.
// Usage: tsx scripts/build-stamp.ts write|check
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const stamp = join(root, "build/inputs.sha256");
const INPUT_DIRS = ["assembly", "src"];
const INPUT_FILES = [
  "asconfig.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "package.json",
  "package-lock.json",
  "scripts/embed-wasm.ts",
  "scripts/bundle-cli.ts",
];
const OUTPUTS = [
  "build/core.wasm",
  "build/core.debug.wasm",
  "build/core.shared.wasm",
  "build/core.shared.debug.wasm",
  "build/core-wasm-inline.js",
  "build/core-wasm-inline.d.ts",
  "build/hits.wasm",
  "build/hits-wasm-inline.js",
  "build/hits-wasm-inline.d.ts",
];

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

const inputs = [...INPUT_DIRS.flatMap(filesUnder), ...INPUT_FILES];
const hash = createHash("sha256");
for (const file of inputs)
  hash
    .update(`${file}\0`)
    .update(readFileSync(join(root, file)))
    .update("\0");
const digest = hash.digest("hex");

const mode = process.argv[2];
if (mode === "write") {
  writeFileSync(stamp, `${digest}\n`);
} else if (mode === "check") {
  const emitted = filesUnder("src")
    .filter((file) => file.endsWith(".ts"))
    .map((file) => file.replace(/^src\//, "dist/").replace(/\.ts$/, ".js"));
  const missing = [...OUTPUTS, ...emitted].filter((file) => !existsSync(join(root, file)));
  const recorded = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  const why =
    missing.length > 0 ? `${missing[0]} is missing` : recorded !== digest ? "its inputs changed since it ran" : "";
  console.error(why ? `build: needed, ${why}` : "build: up to date, not run again");
  process.exit(why ? 1 : 0);
} else {
  console.error(`usage: tsx scripts/build-stamp.ts write|check, got ${JSON.stringify(mode)}`);
  process.exit(2);
}
