/**
 * Asking debuginfod servers for one artifact and streaming the answer into a cache entry. All
 * servers are asked at once; the first to answer 200 is read from and the others are cancelled,
 * as elfutils' client commits to the first handle that writes; if its answer proves bad, the
 * cancelled ones are asked again. A query that ends with no answer and some server failing for a
 * reason that may pass (the network, a 5xx, no progress) is run again for those servers, up to
 * `retries` times (`DEBUGINFOD_RETRY_LIMIT`, default 2, as elfutils). Within
 * three bounds: no progress for `timeoutMs` (to the headers, between body chunks) drops a server;
 * `maxTimeMs` (`DEBUGINFOD_MAXTIME`) from the first request ends the whole query; `maxBytes`
 * (`DEBUGINFOD_MAXSIZE`) of decoded body drops a server before the byte past it is written.
 * An answer is kept only if its wire length matches `Content-Length`, its decoded length matches
 * `X-DEBUGINFOD-SIZE`, and the caller's check (an ELF file's own build ID) passes.
 *
 * @packageDocumentation
 */
import type { CacheWriteError, PendingEntry } from "./client-cache.js";
import {
  get,
  type HttpResponse,
  type HttpTarget,
  isEncoded,
  type Received,
  receive,
  UnusableAnswer,
} from "./client-http.js";

/** How one server answered, for the not-found error and the decision to ask again. */
export interface Refusal {
  /** One line: `HTTP 404`, `no progress for 90000 ms`, `got 10 bytes, X-DEBUGINFOD-SIZE said 12`, … */
  why: string;
  /** The server said it has no such file (HTTP 404). */
  missing: boolean;
  /** Asking again may get another answer: a network failure, no progress, HTTP 5xx, 408 or 429. */
  retry: boolean;
}

/** A download kept in the pending entry. */
export interface Delivered {
  /** The server base URL, as configured. */
  base: string;
  /** The URL that answered, after redirects. */
  url: string;
  /** Decoded bytes written. */
  size: number;
  /** The server's `Last-Modified`, if it sent one. */
  mtime?: Date;
  /** Its `X-DEBUGINFOD-*` headers, names in lowercase, as `debuginfod_get_headers` keeps them. */
  headers: Record<string, string>;
}

/** What {@link askServers} needs. */
export interface QueryOptions {
  /** Server base URLs, deduplicated. */
  bases: readonly string[];
  /** The request path below each base: `/buildid/ID/ARTIFACT[/NAME]`, escaped. */
  path: string;
  /** Request headers besides `Accept-Encoding`. */
  headers: Record<string, string>;
  /** Most time without progress from one server, in ms. */
  timeoutMs: number;
  /** Most time for the whole query, in ms. */
  maxTimeMs: number;
  /** What {@link maxTimeMs} is called in messages, e.g. "DEBUGINFOD_MAXTIME (5 s)". */
  maxTimeName: string;
  /** Most decoded bytes accepted. */
  maxBytes: number;
  /** Vets the finished temporary file (`fd`, `size`): undefined if good, else why not. */
  check(fd: number, size: number): string | undefined;
  /** Query runs after the first for servers that failed for a reason that may pass. */
  retries: number;
  /** Download progress of the server being read from. */
  onProgress?(received: number, total: number | undefined, url: string): void;
  /** Receives a line for each step, as elfutils' client writes to its verbose descriptor. */
  log?(line: string): void;
}

/** The outcome of {@link askServers}: a delivery, or each server's refusal in order. */
export type QueryOutcome = Delivered | { refusals: Map<string, Refusal> };

/** One server's request: its own abort, a no-progress timer, and the reason it was dropped. */
class Attempt {
  readonly controller = new AbortController();
  /** Why the request was ended by this side, when it was. */
  why: string | undefined;
  /** Set when it was ended for a reason asking again cannot change (the total bound). */
  final = false;
  private timer: NodeJS.Timeout;
  constructor(
    readonly base: string,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.drop(`no progress for ${timeoutMs} ms`), timeoutMs);
  }
  /** Progress: the no-progress timer starts again. */
  touch(): void {
    this.timer.refresh();
  }
  /** Ends the request (body included) for `reason`, unless it already ended for another. */
  drop(reason: string): void {
    this.why ??= reason;
    this.controller.abort();
  }
  /** {@link drop}, for good. */
  end(reason: string): void {
    this.final = true;
    this.drop(reason);
  }
  /** Stops the no-progress timer. */
  close(): void {
    clearTimeout(this.timer);
  }
}

function target(base: string, path: string): HttpTarget | string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `a ${url.protocol} URL, not http or https`;
  return { origin: url.origin, path: `${url.pathname.replace(/\/+$/, "")}${path}` };
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sizeHeader(res: HttpResponse, name: string): number | undefined {
  const v = header(res, name);
  return v !== undefined && /^[0-9]+$/.test(v.trim()) ? Number(v) : undefined;
}

class OverLimit extends Error {}

// Streams `res` into `entry`; a Delivered, or why not. A CacheWriteError is thrown: the cache, not the server, failed.
async function download(
  attempt: Attempt,
  res: HttpResponse,
  entry: PendingEntry,
  options: QueryOptions,
): Promise<Delivered | Refusal> {
  const refuse = (why: string, retry = false): Refusal => ({ why, missing: false, retry });
  const wireLength = isEncoded(res.headers) ? undefined : sizeHeader(res, "content-length");
  const declared = sizeHeader(res, "x-debuginfod-size") ?? wireLength;
  if (declared !== undefined && declared > options.maxBytes) {
    res.body.destroy();
    return refuse(`${declared} bytes, more than the limit of ${options.maxBytes}`);
  }
  const counts: Received = { wire: 0, decoded: 0 };
  await entry.restart();
  try {
    await receive(
      res,
      async (chunk) => {
        attempt.touch();
        if (counts.decoded > options.maxBytes) throw new OverLimit(`more than the limit of ${options.maxBytes} bytes`);
        await entry.append(chunk);
        options.onProgress?.(counts.decoded, declared, res.url);
      },
      counts,
    );
  } catch (error) {
    if (error instanceof OverLimit) {
      attempt.drop(error.message); // nothing past the bound is written
      return refuse(error.message);
    }
    if (error instanceof UnusableAnswer) return refuse(error.message);
    if ((error as CacheWriteError).name === "CacheWriteError") throw error;
    const cut =
      wireLength !== undefined ? ` after ${counts.wire} of ${wireLength} bytes` : ` after ${counts.wire} bytes`;
    return refuse(attempt.why ?? `${(error as Error).message}${cut}`);
  }
  const contentLength = sizeHeader(res, "content-length");
  if (contentLength !== undefined && counts.wire !== contentLength) {
    return refuse(`got ${counts.wire} bytes, Content-Length said ${contentLength}`);
  }
  const size = sizeHeader(res, "x-debuginfod-size");
  if (size !== undefined && counts.decoded !== size) {
    return refuse(`got ${counts.decoded} bytes, X-DEBUGINFOD-SIZE said ${size}`);
  }
  const wrong = options.check(entry.file.fd, counts.decoded);
  if (wrong !== undefined) return refuse(`sent a file ${wrong}`);
  const modified = Date.parse(header(res, "last-modified") ?? "");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (name.startsWith("x-debuginfod") && typeof value === "string") headers[name] = value;
  }
  return {
    base: attempt.base,
    url: res.url,
    size: counts.decoded,
    headers,
    ...(Number.isNaN(modified) ? {} : { mtime: new Date(modified) }),
  };
}

function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** How a server's request ended before its body was read. */
type Answer = { attempt: Attempt; res: HttpResponse } | { attempt: Attempt; refusal: Refusal };

async function ask(attempt: Attempt, to: HttpTarget, headers: Record<string, string>): Promise<Answer> {
  try {
    const res = await get(to, headers, attempt.controller.signal);
    attempt.touch();
    if (res.status === 200) return { attempt, res };
    res.body.destroy();
    const status = res.status;
    return { attempt, refusal: { why: `HTTP ${status}`, missing: status === 404, retry: retryable(status) } };
  } catch (error) {
    const why = attempt.why ?? (error as Error).message;
    return { attempt, refusal: { why, missing: false, retry: !(error instanceof UnusableAnswer) && !attempt.final } };
  }
}

/**
 * Asks the servers of `options.bases` at once and streams the first good answer into `entry`
 * (not committed: the caller does that); see the module's description for the rounds. Every
 * request ends when the query does.
 * @throws CacheWriteError when the entry cannot be written.
 */
export async function askServers(entry: PendingEntry, options: QueryOptions): Promise<QueryOutcome> {
  const log = options.log ?? (() => {});
  const refusals = new Map<string, Refusal>();
  const targets = new Map<string, HttpTarget>();
  options.bases.forEach((base, i) => {
    const to = target(base, options.path);
    if (typeof to === "string") refusals.set(base, { why: to, missing: false, retry: false });
    else targets.set(base, to);
    log(`url ${i} ${typeof to === "string" ? `${base}: ${to}` : `${to.origin}${to.path}`}`);
  });
  const live = new Set<Attempt>();
  let overdue = false;
  const deadline = setTimeout(() => {
    overdue = true;
    for (const attempt of live) attempt.end(`${options.maxTimeName} passed`);
  }, options.maxTimeMs);
  let round = [...targets.keys()];
  let retriesLeft = options.retries;
  try {
    while (round.length > 0) {
      log(`query ${round.length} urls in parallel`);
      const attempts = round.map((base) => new Attempt(base, options.timeoutMs));
      for (const attempt of attempts) live.add(attempt);
      const pending = new Map(attempts.map((a) => [a, ask(a, targets.get(a.base)!, options.headers)]));
      let cancelled: Attempt[] = [];
      try {
        let winner: { attempt: Attempt; res: HttpResponse } | undefined;
        while (pending.size > 0 && !winner) {
          const answer = await Promise.race(pending.values());
          pending.delete(answer.attempt);
          if ("res" in answer) winner = answer;
          else {
            refusals.set(answer.attempt.base, answer.refusal);
            log(`server response ${answer.attempt.base}: ${answer.refusal.why}`);
          }
        }
        if (winner) {
          cancelled = [...pending.keys()];
          const why = `cancelled: ${winner.attempt.base} answered first`;
          for (const attempt of cancelled) {
            attempt.drop(why);
            refusals.set(attempt.base, { why, missing: false, retry: false });
          }
          log(`committed to url ${options.bases.indexOf(winner.attempt.base)}`);
          const got = await download(winner.attempt, winner.res, entry, options);
          if ("size" in got) return got;
          refusals.set(winner.attempt.base, got);
          log(`server response ${winner.attempt.base}: ${got.why}`);
        }
      } finally {
        for (const attempt of attempts) {
          attempt.drop("the query ended");
          attempt.close();
          live.delete(attempt);
        }
        await Promise.all(pending.values());
      }
      if (overdue) break;
      if (cancelled.length > 0) {
        round = cancelled.map((a) => a.base);
        continue;
      }
      const again = [...targets.keys()].filter((base) => refusals.get(base)?.retry);
      if (again.length === 0 || retriesLeft === 0) break;
      retriesLeft--;
      log(`Retry failed query, ${retriesLeft} attempt(s) remaining`);
      round = again;
    }
    return { refusals: new Map(options.bases.map((b) => [b, refusals.get(b)!])) };
  } finally {
    clearTimeout(deadline);
  }
}
