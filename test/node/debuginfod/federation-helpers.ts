// What the federation tests share: a counter from a /metrics page, and a folder's files.
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { get } from "./http.js";

/** The value of the sample `name{labels}` on the /metrics page at `url`, 0 when absent. */
export async function metricOf(url: string, sample: string): Promise<number> {
  const text = await (await get(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** A new empty folder under `dir`. */
export function emptyFolder(dir: string, name: string): string {
  const path = join(mkdtempSync(join(dir, `${name}-`)), "root");
  mkdirSync(path);
  return path;
}

/** Every file under `dir`, relative, sorted ([] when it does not exist). */
export function filesUnder(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}
