/**
 * The resolver's batch answers, written into caller-owned typed arrays: {@link ResolutionResults}
 * holds, per address, a {@link ResolveStatus} code, the index of its {@link ResolvedPlace} (the
 * mapping and its file's answer, one per distinct mapping the call met) and the file offset. No
 * object is made per address; {@link ResolutionResults.resolution} makes the {@link Resolution} the
 * object API ({@link BuildIdResolver.resolveMany}) returns.
 *
 * @packageDocumentation
 */
import { integer } from "../../check.js";
import { LookupResults } from "../../spaces/index.js";
import type { Mapping } from "../procfs/maps.js";
import type { FileResolution, FileVia, Resolution, ResolveFailure } from "./answers.js";

/** An address's answer in {@link ResolutionResults.status}: `OK`, or a {@link ResolveFailure} by code. */
export const ResolveStatus = {
  /** A build ID: the place's `file` has it. */
  OK: 0,
  /** `no-mapping`: no mapping holds the address; no place. */
  NO_MAPPING: 1,
  /** `anonymous`: the place's mapping has no file. */
  ANONYMOUS: 2,
  /** `exited`: the process exited; no place. */
  EXITED: 3,
  /** `permission`: the process or its file may not be read (no place when it was the process). */
  PERMISSION: 4,
  /** `missing`: the place's file cannot be reached. */
  MISSING: 5,
  /** `not-elf`: the place's file is not ELF. */
  NOT_ELF: 6,
  /** `bad-elf`: the place's file is malformed ELF. */
  BAD_ELF: 7,
  /** `no-build-id`: the place's file has no build ID. */
  NO_BUILD_ID: 8,
  /** `bad-procfs`: a procfs file is not the kernel's; no place. */
  BAD_PROCFS: 9,
  /** `changed`: the place's mapping changed while it was checked. */
  CHANGED: 10,
} as const;

/** One of the {@link ResolveStatus} codes. */
export type ResolveStatusCode = (typeof ResolveStatus)[keyof typeof ResolveStatus];

/** Every {@link ResolveFailure}, in the order of their {@link ResolveStatus} codes (from 1). */
export const RESOLVE_FAILURES: readonly ResolveFailure[] = [
  "no-mapping",
  "anonymous",
  "exited",
  "permission",
  "missing",
  "not-elf",
  "bad-elf",
  "no-build-id",
  "bad-procfs",
  "changed",
];

const FAILURES: readonly (ResolveFailure | undefined)[] = [undefined, ...RESOLVE_FAILURES];

/** How many {@link ResolveStatus} codes there are. */
export const RESOLVE_STATUS_CODES = FAILURES.length;

const CODES = Object.fromEntries(FAILURES.map((f, code) => [f, code])) as Record<ResolveFailure, ResolveStatusCode>;

/** The {@link ResolveFailure} a status code stands for; `undefined` for `OK`. */
export function resolveFailure(status: ResolveStatusCode): ResolveFailure | undefined {
  return FAILURES[status];
}

/** The status code of a failure. */
export function resolveStatus(failure: ResolveFailure): ResolveStatusCode {
  return CODES[failure];
}

/** A mapping a call's addresses fell in, and what its file turned out to be; shared by those addresses. */
export interface ResolvedPlace {
  /** The mapping's maps line (its `path` is exact, as {@link Resolution} `path`). */
  readonly mapping: Mapping;
  /** The file's build ID or why not; `undefined` for a mapping without a file (anonymous memory, `[vsyscall]`). */
  readonly file: FileResolution | undefined;
  /** How the file was reached, when it was. */
  readonly via: FileVia | undefined;
  /** When the view behind the place's answers was confirmed (as {@link Resolution} `verifiedAt`). */
  readonly verifiedAt: number;
  /** The status code of the place's addresses. */
  readonly status: ResolveStatusCode;
}

/**
 * Where {@link BuildIdResolver.resolveInto} writes its answers, index for index with the addresses.
 * Made once and reused: each call overwrites it (the {@link places} of the last call stay valid
 * objects). For address `i` of the last call:
 * - {@link status}`[i]`: a {@link ResolveStatus} code;
 * - {@link place}`[i]`: the index in {@link places} of its mapping and file (for `OK`, `ANONYMOUS`
 *   and the file's failures), else -1;
 * - {@link fileOffset}`[i]`: its offset in the place's file (`address - start + offset`), when it has a place.
 *
 * @example
 * ```ts
 * const out = new ResolutionResults(1024);
 * await resolver.resolveInto(pid, addresses, out);
 * for (let i = 0; i < out.length; i++)
 *   if (out.status[i] === ResolveStatus.OK) count(out.places[out.place[i]!]!.file, out.fileOffset[i]!);
 * ```
 */
export class ResolutionResults {
  /** Per address, a {@link ResolveStatus} code. */
  readonly status: Uint8Array;
  /** Per address, an index into {@link places}, or -1. */
  readonly place: Int32Array;
  /** Per address with a place, the file offset; otherwise not meaningful. */
  readonly fileOffset: BigUint64Array;
  /** {@link fileOffset} as u32 words (low word first on little-endian hosts). */
  readonly offsetWords: Uint32Array;
  /** The mappings the last call met, with their files' answers. */
  readonly places: ResolvedPlace[] = [];
  /** How many addresses the last call answered. */
  length = 0;
  /** The process of the last call. */
  pid = 0;
  /** When the process's maps behind the last call were read (resolver clock, ms); `undefined` when the process could not be read. */
  verifiedAt: number | undefined = undefined;
  /** When the last call answered (resolver clock, ms). */
  answeredAt = 0;
  /** What failed, for the addresses without a place whose status is a process's failure (`exited`, `permission`, `bad-procfs`). */
  detail = "";
  /** The addresses of the last call (for the `no-mapping` details). */
  addresses: BigUint64Array = new BigUint64Array(0);
  /** The model's answers, written in place; its `fileOffset` is {@link fileOffset}. @internal */
  readonly lookup: LookupResults;
  /** Calls begun; see {@link #shared}. */
  #call = 0;
  #sharedCall = -1;
  readonly #answers: Resolution[] = [];

  /** @param capacity how many addresses one call may hold, 1 to 2^24. */
  constructor(capacity: number) {
    integer("capacity", capacity, 1, 2 ** 24);
    this.lookup = new LookupResults(capacity, { perAddress: false });
    this.status = new Uint8Array(capacity);
    this.place = new Int32Array(capacity);
    this.fileOffset = this.lookup.fileOffset;
    this.offsetWords = this.lookup.offsetWords;
  }

  /** How many addresses one call may hold. */
  get capacity(): number {
    return this.status.length;
  }

  /** Starts a call's answers. @internal */
  begin(pid: number, addresses: BigUint64Array, n: number): void {
    this.#call++;
    this.pid = pid;
    this.addresses = addresses;
    this.length = n;
    this.places.length = 0;
    this.verifiedAt = undefined;
    this.detail = `process ${pid} exited`;
  }

  /** Adds a place; returns its index. @internal */
  add(place: ResolvedPlace): number {
    return this.places.push(place) - 1;
  }

  /** Address `i`'s answer as {@link BuildIdResolver.resolveMany} gives it. */
  resolution(i: number): Resolution {
    const p = this.place[i]!;
    return p < 0 ? this.#unplaced(i) : answerAt(this.#shared()[p]!, this.fileOffset, i);
  }

  /** Every answer of the last call, in order: what {@link BuildIdResolver.resolveMany} returns. */
  resolutions(): Resolution[] {
    const n = this.length;
    const results = new Array<Resolution>(n);
    const shared = this.#shared();
    const { place, fileOffset } = this;
    for (let i = 0; i < n; i++) {
      const p = place[i]!;
      results[i] = p < 0 ? this.#unplaced(i) : answerAt(shared[p]!, fileOffset, i);
    }
    return results;
  }

  /** Per place of the last call, the answer its addresses share but for `fileOffset`: made once per call, on first use. */
  #shared(): Resolution[] {
    if (this.#sharedCall === this.#call) return this.#answers;
    this.#sharedCall = this.#call;
    const answers = this.#answers;
    answers.length = this.places.length;
    for (let p = 0; p < answers.length; p++) answers[p] = placeAnswer(this.places[p]!, this.answeredAt);
    return answers;
  }

  /** The answer of address `i`, which has no place. */
  #unplaced(i: number): Resolution {
    if (this.status[i] === ResolveStatus.NO_MAPPING) {
      const detail = `no mapping of process ${this.pid} holds 0x${this.addresses[i]!.toString(16)}`;
      const verifiedAt = this.verifiedAt!;
      return { ok: false, reason: "no-mapping", detail, verifiedAt, ageMs: this.answeredAt - verifiedAt };
    }
    return { ok: false, reason: FAILURES[this.status[i]!]!, detail: this.detail };
  }
}

/** The answer of `place`'s addresses, `fileOffset` 0 (each address has its own). */
function placeAnswer({ mapping, file, via, verifiedAt }: ResolvedPlace, answeredAt: number): Resolution {
  const ageMs = answeredAt - verifiedAt;
  const path = mapping.path;
  if (file?.ok) {
    const { buildId, cached } = file;
    return { ok: true, buildId, path, fileOffset: 0n, mapping, cached, verifiedAt, ageMs, via: via! };
  }
  // The detail names the mapping, not the address: the caller has the address.
  if (file === undefined) {
    const detail = `${path || "anonymous memory"} has no file`;
    return { ok: false, reason: "anonymous", detail, mapping, verifiedAt, ageMs };
  }
  return { ok: false, reason: file.reason, detail: file.detail, path, fileOffset: 0n, mapping, verifiedAt, ageMs };
}

/** Address `i`'s own answer: a copy of its place's `shared` answer with its offset from `offsets`. */
function answerAt(shared: Resolution, offsets: BigUint64Array, i: number): Resolution {
  if (shared.ok) {
    const { buildId, path, mapping, cached, verifiedAt, ageMs, via } = shared;
    return { ok: true, buildId, path, fileOffset: offsets[i]!, mapping, cached, verifiedAt, ageMs, via };
  }
  const { reason, detail, mapping, verifiedAt, ageMs } = shared;
  if (reason === "anonymous") return { ok: false, reason, detail, mapping, verifiedAt, ageMs };
  return { ok: false, reason, detail, path: shared.path, fileOffset: offsets[i]!, mapping, verifiedAt, ageMs };
}
