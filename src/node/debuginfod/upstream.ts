/**
 * Forwarding what the index does not hold to upstream debuginfod servers, as elfutils' server
 * forwards a miss (`handle_buildid` in debuginfod.cxx): the client's own query
 * ({@link findArtifact}: the client cache `find` and `debuginfod-find` share first, then every
 * upstream at once, the first good answer kept in that cache), within the server's bounds
 * (`DEBUGINFOD_TIMEOUT`, `_MAXTIME`, `_MAXSIZE`, `_RETRY_LIMIT` as elfutils' server reads them, or
 * the options), sending the requester's `User-Agent` and its `X-Forwarded-For` grown by the
 * requester's address. Loops end on the hop count: a request whose `X-Forwarded-For` already names
 * `forwardedTtlLimit` hops (elfutils' `--forwarded-ttl-limit`, default 8) is answered from the
 * cache or 404, never forwarded. elfutils has no `X-Forwarded-TTL` header: the hops are the
 * commas of `X-Forwarded-For`, counted as elfutils counts them.
 *
 * A forwarded request (one with `X-Forwarded-For`) is never sent back to an upstream at the address
 * it came from (split horizon): that server is the one that missed. The hop count alone does not end
 * a loop with elfutils 0.188, whose server holds a request for a URL it is already fetching until
 * that fetch ends ("after you", PR27863), so a request that comes back to it waits on itself: two
 * elfutils servers that are each other's upstream hang on a missing ID until killed. The cost: a
 * server forwarding to us from a host that also runs one of our upstreams is not sent to that one.
 *
 * Identical requests at the same depth share one query; at most `concurrency` queries run at once
 * per depth, so a query waiting for its turn never waits on one that waits for it (servers that are
 * each other's upstream cannot lock each other up), and a wait past the query's own bound is a 503.
 *
 * @packageDocumentation
 */
import { lookup } from "node:dns/promises";
import { closeSync } from "node:fs";
import { integer } from "../../check.js";
import { ElfError } from "../../elf.js";
import { readBuildIdFromFileSync } from "../elf-file.js";
import { ArtifactNotFoundError, CacheWriteError, DEFAULT_MAX_TIME_S, findArtifact } from "./client.js";
import { type ClientArtifact, cacheEntryName, debuginfodCachePath, openEntry } from "./client-cache.js";

/** elfutils' `--forwarded-ttl-limit` default: a request already forwarded this many times is not forwarded again. */
export const FORWARDED_TTL_LIMIT = 8;
/**
 * Default most queries at once per depth: each holds one connection per upstream and one
 * temporary file, and 16 downloads at once already share a link 16 ways.
 */
export const UPSTREAM_CONCURRENCY = 16;
/** Upper bounds of the latency histogram's buckets, in seconds: a cache-hot upstream to a 4 GiB download. */
export const UPSTREAM_BUCKETS_S: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
]);

/** The 404 message elfutils' server gives at the hop limit (its spelling of the option corrected). */
export const TTL_MESSAGE = "not found, --forwarded-ttl-limit reached and will not query the upstream servers";
/** The 404 message when every upstream is at the address the forwarded request came from. */
export const SPLIT_HORIZON_MESSAGE =
  "not found, every upstream server is at the address this forwarded request came from";
/** How long an upstream host's resolved addresses are used, in ms. */
const RESOLVED_MS = 60_000;

/** Upstream servers for {@link ServeOptions.upstream}, and the bounds of each query. */
export interface UpstreamOptions {
  /** Base URLs, http or https, as `DEBUGINFOD_URLS` lists them; duplicates are asked once. */
  urls: readonly string[];
  /** Where answers are kept; default the client cache `find` and `debuginfod-find` use ({@link debuginfodCachePath} of {@link env}). */
  cachePath?: string;
  /** Environment the query reads its bounds and `DEBUGINFOD_HEADERS_FILE` from, as elfutils' server does; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Most time without progress from an upstream, in ms. Default `DEBUGINFOD_TIMEOUT`, else 90 s. */
  timeoutMs?: number;
  /** Most time for a query, in ms, and for a wait for a turn. Default `DEBUGINFOD_MAXTIME`, else 30 minutes. */
  maxTimeMs?: number;
  /** Largest answer kept, in bytes. Default `DEBUGINFOD_MAXSIZE`, else 4 GiB. */
  maxBytes?: number;
  /** Times upstreams that failed for a reason that may pass are asked again. Default `DEBUGINFOD_RETRY_LIMIT`, else 2. */
  retries?: number;
  /** Most queries at once at each depth (hops of `X-Forwarded-For`). Default {@link UPSTREAM_CONCURRENCY}. */
  concurrency?: number;
  /** Requests already forwarded this many times are answered 404 unforwarded. Default {@link FORWARDED_TTL_LIMIT}; 0 forwards nothing. */
  forwardedTtlLimit?: number;
}

/** One miss to forward. */
export interface ForwardRequest {
  /** The artifact asked for. */
  artifact: ClientArtifact;
  /** The build ID, lowercase hex. */
  id: string;
  /** The section name or source path; "" for the others. */
  name: string;
  /** The request's `X-Forwarded-For`, if any (Node joins repeated ones with ", "). */
  forwardedFor: string | undefined;
  /** The request's `User-Agent`, passed on as elfutils' server passes it. */
  userAgent: string | undefined;
  /** The requester's numeric address (as {@link numericHost} gives it): added to `X-Forwarded-For`, and never asked when the request was forwarded. */
  client: string;
}

/** A forwarded miss answered with a file: the open cache entry. */
export interface ForwardedFile {
  /** Open descriptor of the cache entry; the caller closes it. */
  fd: number;
  /** Its size in bytes. */
  size: number;
  /** Its mtime in ms: the upstream's `Last-Modified`. */
  mtimeMs: number;
  /** The upstream's `X-DEBUGINFOD-*` headers to pass on (names as elfutils writes them), but the size, which the caller sets. */
  headers: Record<string, string>;
  /** `"upstream"` when an upstream was asked, `"cache"` when the client cache had it. */
  from: "upstream" | "cache";
}

/** A forwarded miss answered with an error status. */
export interface ForwardRefusal {
  /** 404 (no upstream has it, or the hop limit), 502 (an upstream failed), 503 (no turn in time, the cache not writable), 400. */
  status: number;
  /** One line for the response body. */
  message: string;
}

/** Counters of the forwarding, as `/metrics` reports them. */
export interface UpstreamMetrics {
  /**
   * Forwarded misses by outcome: `found` (an upstream sent it), `cached` (the client cache had it),
   * `missing` (every upstream said 404), `cached_miss` (a miss the cache recorded), `failed` (an
   * upstream failed and none sent it), `ttl_limit`, `split_horizon` (every upstream at the forwarding
   * server's address), `busy` (no turn in time), `cache_error`, `bad_request`.
   */
  outcomes: Record<string, number>;
  /** Latency of the queries that asked an upstream: counts per bucket of {@link UPSTREAM_BUCKETS_S} (not cumulative), then past the last. */
  buckets: number[];
  /** Sum of those latencies, in seconds. */
  seconds: number;
  /** Queries running now. */
  active: number;
  /** Queries waiting for a turn now. */
  waiting: number;
  /** Requests that joined an identical query under way instead of starting one. */
  joined: number;
}

/** What a query found, shared by the identical requests that joined it. */
type Lookup = { from: "upstream" | "cache"; headers: Record<string, string> } | ForwardRefusal;

/** Turns for queries at one depth: at most `most` at once, the others wait in order. */
class Turns {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly most: number) {}
  /** Resolves true with a turn, or false after `waitMs` without one. */
  take(waitMs: number): Promise<boolean> {
    if (this.running < this.most) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const go = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(go), 1);
        resolve(false);
      }, waitMs);
      this.queue.push(go);
    });
  }
  /** Hands the turn to the next in line, or gives it back. */
  give(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running--;
  }
  get idle(): boolean {
    return this.running === 0;
  }
}

/** The requester's address as elfutils writes it into `X-Forwarded-For`: an IPv4-mapped IPv6 one as IPv4. @internal */
export function numericHost(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

/** Hops a request has made: the entries of its `X-Forwarded-For`, counted by commas as elfutils counts them. @internal */
export function hopsOf(forwardedFor: string | undefined): number {
  if (!forwardedFor) return 0;
  let hops = 1;
  for (const c of forwardedFor) if (c === ",") hops++;
  return hops;
}

/**
 * `url` if it is an http or https URL.
 * @throws TypeError (not a string) or RangeError naming it.
 */
export function checkUpstreamUrl(url: unknown): string {
  if (typeof url !== "string") throw new TypeError(`upstream URL must be a string, got ${typeof url}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`upstream URL must be an http or https URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new RangeError(`upstream URL must be an http or https URL, got ${JSON.stringify(url)}`);
  return url;
}

/** Forwards misses to upstream servers; see the module's description. */
export class Upstream {
  /** Live counters. */
  readonly metrics: UpstreamMetrics = {
    outcomes: {},
    buckets: Array<number>(UPSTREAM_BUCKETS_S.length + 1).fill(0),
    seconds: 0,
    active: 0,
    waiting: 0,
    joined: 0,
  };
  /** The upstream base URLs, deduplicated. */
  readonly urls: readonly string[];
  /** The cache answers are kept in. */
  readonly cachePath: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly bounds: { timeoutMs?: number; maxTimeMs?: number; maxBytes?: number; retries?: number };
  private readonly waitMs: number;
  private readonly concurrency: number;
  private readonly ttlLimit: number;
  private readonly turns = new Map<number, Turns>();
  private readonly queries = new Map<string, Promise<Lookup>>();
  private readonly resolved = new Map<string, { until: number; addresses: Promise<string[]> }>();

  /** @throws TypeError or RangeError naming a bad option or URL. */
  constructor(options: UpstreamOptions) {
    if (!Array.isArray(options.urls)) throw new TypeError(`urls must be an array of URLs, got ${typeof options.urls}`);
    this.urls = [...new Map(options.urls.map((u) => [checkUpstreamUrl(u).replace(/\/+$/, ""), u] as const)).values()];
    this.env = options.env ?? process.env;
    this.cachePath = options.cachePath ?? debuginfodCachePath(this.env);
    const bounds: typeof this.bounds = {};
    if (options.timeoutMs !== undefined) bounds.timeoutMs = integer("timeoutMs", options.timeoutMs, 1, 2 ** 31 - 1);
    if (options.maxTimeMs !== undefined) bounds.maxTimeMs = integer("maxTimeMs", options.maxTimeMs, 1, 2 ** 31 - 1);
    if (options.maxBytes !== undefined) bounds.maxBytes = integer("maxBytes", options.maxBytes, 1);
    if (options.retries !== undefined) bounds.retries = integer("retries", options.retries, 0, 100);
    this.bounds = bounds;
    const maxTimeEnv = this.env.DEBUGINFOD_MAXTIME?.trim() ?? "";
    const maxTimeS = /^[0-9]+$/.test(maxTimeEnv) && Number(maxTimeEnv) > 0 ? Number(maxTimeEnv) : DEFAULT_MAX_TIME_S;
    this.waitMs = bounds.maxTimeMs ?? Math.min(2 ** 31 - 1, maxTimeS * 1000);
    this.concurrency = integer("concurrency", options.concurrency ?? UPSTREAM_CONCURRENCY, 1);
    this.ttlLimit = integer("forwardedTtlLimit", options.forwardedTtlLimit ?? FORWARDED_TTL_LIMIT, 0);
  }

  /**
   * Forwards one miss: the open cache entry the query left, or the status to answer. Never
   * throws for what an upstream does; a failure of this process (an I/O error) is thrown.
   */
  async forward(request: ForwardRequest): Promise<ForwardedFile | ForwardRefusal> {
    const hops = hopsOf(request.forwardedFor);
    let urls = hops >= this.ttlLimit ? [] : this.urls;
    if (hops > 0 && urls.length > 0) {
      const at = await Promise.all(urls.map((url) => this.addressesOf(url)));
      urls = urls.filter((_, i) => !at[i]!.includes(request.client));
    }
    const key = `${hops} ${urls.join(" ")} ${request.artifact} ${request.id} ${request.name}`;
    let query = this.queries.get(key);
    if (query) this.metrics.joined++;
    else {
      query = this.query(request, hops, urls).finally(() => this.queries.delete(key));
      this.queries.set(key, query);
    }
    const found = await query;
    if ("status" in found) return found;
    const entry = openEntry(this.cachePath, request.id, cacheEntryName(request.artifact, request.name));
    if (!entry) return { status: 502, message: "the upstream answer was removed from the cache before it was sent" };
    if (request.artifact === "executable" || request.artifact === "debuginfo") {
      let id: string | undefined;
      try {
        id = readBuildIdFromFileSync(entry.fd, { size: entry.size }).buildId;
      } catch (error) {
        if (!(error instanceof ElfError)) {
          closeSync(entry.fd);
          throw error;
        }
      }
      if (id !== request.id) {
        closeSync(entry.fd);
        return { status: 502, message: "the cache entry was replaced by another file before it was sent" };
      }
    }
    return { ...entry, headers: found.headers, from: found.from };
  }

  private refuse(outcome: string, status: number, message: string): ForwardRefusal {
    this.count(outcome);
    return { status, message };
  }

  private count(outcome: string): void {
    this.metrics.outcomes[outcome] = (this.metrics.outcomes[outcome] ?? 0) + 1;
  }

  private observe(startedMs: number): void {
    const s = (performance.now() - startedMs) / 1000;
    const i = UPSTREAM_BUCKETS_S.findIndex((le) => s <= le);
    this.metrics.buckets[i === -1 ? UPSTREAM_BUCKETS_S.length : i]!++;
    this.metrics.seconds += s;
  }

  // The numeric addresses of an upstream's host, resolved at most once a minute; none when it does not resolve.
  private addressesOf(url: string): Promise<string[]> {
    const host = new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
    const now = Date.now();
    const known = this.resolved.get(host);
    if (known && known.until > now) return known.addresses;
    const addresses = lookup(host, { all: true, verbatim: true }).then(
      (found) => found.map((a) => numericHost(a.address)),
      () => [],
    );
    this.resolved.set(host, { until: now + RESOLVED_MS, addresses });
    return addresses;
  }

  private async query(request: ForwardRequest, hops: number, urls: readonly string[]): Promise<Lookup> {
    let turns = this.turns.get(hops);
    if (!turns) {
      turns = new Turns(this.concurrency);
      this.turns.set(hops, turns);
    }
    this.metrics.waiting++;
    const turn = await turns.take(this.waitMs);
    this.metrics.waiting--;
    if (!turn) return this.refuse("busy", 503, `no turn among the upstream queries in ${this.waitMs} ms`);
    this.metrics.active++;
    const started = performance.now();
    try {
      return await this.ask(request, urls, started);
    } finally {
      this.metrics.active--;
      turns.give();
      if (turns.idle) this.turns.delete(hops);
    }
  }

  private async ask(request: ForwardRequest, urls: readonly string[], started: number): Promise<Lookup> {
    const { artifact, id, name } = request;
    const headers: Record<string, string> = {
      "x-forwarded-for": request.forwardedFor ? `${request.forwardedFor}, ${request.client}` : request.client,
    };
    if (request.userAgent !== undefined) headers["user-agent"] = request.userAgent;
    try {
      const found = await findArtifact(artifact, id, {
        ...(artifact === "section" ? { section: name } : artifact === "source" ? { file: name } : {}),
        ...this.bounds,
        urls,
        cachePath: this.cachePath,
        env: this.env,
        headers,
      });
      if (found.source === "cache") {
        this.count("cached");
        return { from: "cache", headers: {} };
      }
      this.count("found");
      this.observe(started);
      const passed: Record<string, string> = {};
      for (const [header, value] of Object.entries(found.headers ?? {})) {
        if (header !== "x-debuginfod-size") passed[header.toUpperCase()] = value;
      }
      return { from: "upstream", headers: passed };
    } catch (error) {
      if (error instanceof ArtifactNotFoundError) {
        if (error.asked === 0) {
          if (urls.length > 0) return this.refuse("cached_miss", 404, "not found");
          if (hopsOf(request.forwardedFor) >= this.ttlLimit) return this.refuse("ttl_limit", 404, TTL_MESSAGE);
          return this.refuse("split_horizon", 404, SPLIT_HORIZON_MESSAGE);
        }
        this.observe(started);
        if (error.failed === 0) return this.refuse("missing", 404, "not found");
        return this.refuse("failed", 502, `no upstream server sent it: ${error.tried.join("; ")}`);
      }
      // The network's errors are the query's refusals: an errno error here is the cache's (ENOTDIR, EACCES, ELOOP, ...).
      const code = error instanceof CacheWriteError ? error.code : (error as NodeJS.ErrnoException).code;
      if (typeof code === "string" && /^E[A-Z]+$/.test(code))
        return this.refuse("cache_error", 503, `the upstream cache cannot be used (${code})`);
      if (error instanceof RangeError) return this.refuse("bad_request", 400, error.message);
      throw error;
    }
  }
}

/** The `/metrics` lines of forwarding counters `m` (Prometheus text), elfutils' names where it has them. */
export function upstreamMetricLines(m: UpstreamMetrics): string[] {
  const lines = [
    "# HELP upstream_requests_total Misses forwarded to upstream servers, by outcome.",
    "# TYPE upstream_requests_total counter",
    ...Object.entries(m.outcomes).map(([k, v]) => `upstream_requests_total{outcome="${k}"} ${v}`),
    "# HELP upstream_request_duration_seconds Time of the forwarded queries that asked an upstream.",
    "# TYPE upstream_request_duration_seconds histogram",
  ];
  let below = 0;
  UPSTREAM_BUCKETS_S.forEach((le, i) => {
    below += m.buckets[i]!;
    lines.push(`upstream_request_duration_seconds_bucket{le="${le}"} ${below}`);
  });
  below += m.buckets[UPSTREAM_BUCKETS_S.length]!;
  lines.push(
    `upstream_request_duration_seconds_bucket{le="+Inf"} ${below}`,
    `upstream_request_duration_seconds_sum ${m.seconds}`,
    `upstream_request_duration_seconds_count ${below}`,
    "# HELP upstream_requests_active Forwarded queries running.",
    "# TYPE upstream_requests_active gauge",
    `upstream_requests_active ${m.active}`,
    "# HELP upstream_requests_waiting Forwarded queries waiting for a turn.",
    "# TYPE upstream_requests_waiting gauge",
    `upstream_requests_waiting ${m.waiting}`,
    "# HELP upstream_requests_joined_total Requests that joined an identical query under way.",
    "# TYPE upstream_requests_joined_total counter",
    `upstream_requests_joined_total ${m.joined}`,
  );
  return lines;
}
