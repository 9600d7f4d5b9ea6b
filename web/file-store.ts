// The page's file cache: a number per file name, as a directory gives inode numbers, and the
// build ID of each file read, for every section that resolves files by name.
import CRC32 from "crc-32";
import { type BuildIdAnswer, BuildIdCache, type BuildIdInfo, type ProfileMapping, readBuildId } from "../src/index.js";

/** Most files the page keeps build IDs for. */
const FILE_CACHE_CAPACITY = 4096;

/** A file as the page identifies it: name, size and a CRC-32 of the content. */
interface Identity {
  name: string;
  size: number;
  crc: number;
}

/** What the store knows of a file name: its number and the file it was given for. */
interface Entry extends Identity {
  key: bigint;
  /** The build ID read, or the reason there is none. */
  read: ElfRead["outcome"];
}

/** Reading one file: its build ID or why there is none, and whether it was read before. */
export interface ElfRead {
  file: File;
  outcome: { info: BuildIdInfo; cached: boolean } | { error: unknown };
  /** The same name, size and content (CRC-32) as a file read before: one file, listed once. */
  again: boolean;
}

/**
 * The page's files by name. A file read again with the same name, size and content is the same
 * file; a different one under a known name replaces it, and the old build ID leaves the cache.
 */
export class FileStore {
  readonly cache: BuildIdCache;
  readonly #names = new Map<string, Entry>();
  #nextKey = 1n;

  private constructor(cache: BuildIdCache) {
    this.cache = cache;
  }

  /** A store with an empty file cache. */
  static async create(): Promise<FileStore> {
    return new FileStore(await BuildIdCache.create({ capacity: FILE_CACHE_CAPACITY }));
  }

  /** Reads `file`'s build ID into the cache, unless the same file was read before. */
  async read(file: File): Promise<ElfRead> {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const identity: Identity = { name: file.name, size: file.size, crc: CRC32.buf(bytes) };
    const known = this.#names.get(file.name);
    if (known && known.size === identity.size && known.crc === identity.crc) {
      return { file, outcome: known.read, again: true };
    }
    if (known) this.cache.delete(known.key);
    const key = this.#nextKey++;
    let outcome: ElfRead["outcome"];
    try {
      const info = readBuildId(bytes);
      if (info.fitsKernel) this.cache.set(key, info.bytes);
      outcome = { info, cached: info.fitsKernel };
    } catch (error) {
      outcome = { error };
    }
    this.#names.set(file.name, { ...identity, key, read: outcome });
    return { file, outcome, again: false };
  }

  /** Files read so far, one per name, and how many of them have a build ID. */
  counts(): { files: number; withBuildId: number } {
    let withBuildId = 0;
    for (const entry of this.#names.values()) if ("info" in entry.read) withBuildId++;
    return { files: this.#names.size, withBuildId };
  }

  /** The build ID of a mapping's file, looked up in the file cache by the file's name. */
  findBuildId = ({ filename }: ProfileMapping): BuildIdAnswer => {
    const name = filename.slice(filename.lastIndexOf("/") + 1);
    if (name === "" || filename.startsWith("[")) return { reason: "not a file" };
    const entry = this.#names.get(name);
    if (entry === undefined) return { reason: `no file named ${name} was dropped` };
    const buildId = this.cache.get(entry.key);
    if (buildId !== undefined) return buildId;
    if ("error" in entry.read) return { reason: `${name} has no build ID` };
    if (!entry.read.cached) return { reason: `${name}'s ${entry.read.info.length}-byte build ID is too long to cache` };
    return { reason: `${name} was evicted from the file cache` };
  };
}
