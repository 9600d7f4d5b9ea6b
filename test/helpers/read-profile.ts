// Child for the decompression-ceiling test (bundled by it): reads the profile at argv[2] with
// readProfileFile (maxBytes argv[3] when given) and prints the error it got and its peak RSS.
import { readProfileFile } from "../../src/node/pprof-file.js";

const [path, maxBytes] = process.argv.slice(2) as [string, string | undefined];
let error = "";
try {
  await readProfileFile(path, maxBytes === undefined ? {} : { maxBytes: Number(maxBytes) });
} catch (e) {
  error = (e as Error).message;
}
process.stdout.write(JSON.stringify({ error, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
