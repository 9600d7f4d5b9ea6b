// A worker_threads entry that runs the TypeScript module `workerData.script` through tsx.
import { workerData } from "node:worker_threads";
import { tsImport } from "tsx/esm/api";

await tsImport(workerData.script, import.meta.url);
