/**
 * The debuginfod web API over a {@link BuildIdIndex}: `/buildid/ID/executable`, `/debuginfo`,
 * `/section/NAME`, `/metrics`. No part of a request reaches the file system: the ID is looked up in
 * the index, and only the paths the index holds are opened, from their root and never through a
 * symbolic link (files/under-root.ts), with their stamp checked on the handle before a byte is sent.
 *
 * `node:http` rather than a framework: three fixed routes need no router, and the parts that matter
 * here (header size and timeout limits, a connection cap, streaming a range of an open descriptor
 * with backpressure) are `node:http` options and `fs` streams that a framework would only wrap.
 *
 * @packageDocumentation
 */
import { closeSync, createReadStream } from "node:fs";
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { basename } from "node:path";
import { integer } from "../../check.js";
import { MAX_INTERVAL_MS } from "../snapshot-file.js";
import { IndexedMembers } from "./archive-artifact.js";
import { ARTIFACTS, type Artifact, type OpenedArtifact, openArtifact } from "./artifact.js";
import { isSectionName, isUrlBuildId } from "./build-id.js";
import type { BuildIdIndex, GroomStats, IndexedFile, ScanProgress, ScanStats } from "./build-id-index.js";
import type { ClientArtifact } from "./client-cache.js";
import { KIND } from "./file-table.js";
import { HELD_MAX_BYTES, HeldFiles } from "./held-files.js";
import { LookupCache } from "./lookup-cache.js";
import { readBody } from "./reads.js";
import { type AnswerSource, logRequest, noteSent, noteSource } from "./request-log.js";
import { SourceRequestError, sourceRequestPath } from "./sources.js";
import { numericHost, Upstream, type UpstreamMetrics, type UpstreamOptions, upstreamMetricLines } from "./upstream.js";

/** Options for {@link serveDebuginfod}. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default 8002, as elfutils' server. */
  port?: number;
  /** Address to bind. Default 127.0.0.1: loopback unless told otherwise. */
  host?: string;
  /** Most connections open at once; more are closed on arrival. Default 4096. */
  maxConnections?: number;
  /**
   * Most connections open at once from one client address (an IPv6 client: its /64, which one
   * host is routed whole); more are closed on arrival. Default `maxConnections / 64`, at least 1:
   * 64 at the default cap, far more than a debuginfod client keeps (elfutils' keeps one per server),
   * and it takes 64 addresses to fill the server.
   */
  maxConnectionsPerClient?: number;
  /** Most bytes of request headers; more get 431. Default 8192. */
  maxHeaderBytes?: number;
  /** Time a client has to send its request headers, in ms. Default 10,000. */
  headersTimeoutMs?: number;
  /** A connection with no traffic for this long is closed (a client that stopped reading), in ms. Default 30,000. */
  idleTimeoutMs?: number;
  /** A kept-alive connection with no new request for this long is closed, in ms. Default 5,000. */
  keepAliveTimeoutMs?: number;
  /**
   * Scan the index as soon as the server listens, answering meanwhile from what the index holds
   * (after a restart, its database; during a first scan, what is read so far). Default false.
   * Ignored for a read-only index (a replica: another process scans).
   */
  scanAtStart?: boolean;
  /**
   * Rescan the index this many seconds after each scan ends, as elfutils' `debuginfod -t`: only
   * changed files are read, vanished ones dropped, new ones found. 0 (the default): no rescans
   * but those {@link DebuginfodServer.rescan} asks for.
   */
  rescanSeconds?: number;
  /**
   * Groom the index this many seconds after each groom ends, as elfutils' `debuginfod -g`: files
   * gone since they were indexed are dropped without a walk. 0 (the default): no grooms but those
   * {@link DebuginfodServer.groom} asks for.
   */
  groomSeconds?: number;
  /** Called at every pause of a scan with where it is (for progress lines). */
  onScanProgress?: (progress: Readonly<ScanProgress>) => void;
  /** Called after each scan (the first included) with its figures, awaited before the next one is timed. */
  onRescan?: (stats: ScanStats) => void | Promise<void>;
  /** Called when a scan or groom fails (the index keeps what it had and serving goes on); default: counted only. */
  onRescanError?: (error: unknown) => void;
  /** Called after each groom with its figures. */
  onGroom?: (stats: GroomStats) => void;
  /**
   * Upstream debuginfod servers to forward what the index does not hold to (any artifact, `source`
   * too), as elfutils' server forwards to `DEBUGINFOD_URLS`; see {@link UpstreamOptions}. Default: none, a miss is 404.
   */
  upstream?: UpstreamOptions;
  /** Receives the request log, one line per request when its response ends (format: request-log.ts). Default: no log. */
  requestLog?: (line: string) => void;
  /** Serving processes to answer the connections (pool.ts); default none: this process answers them. @internal */
  pool?: ServingPool;
}

/** Counters of a running server, as `/metrics` reports them. */
export interface ServerMetrics {
  /** Requests received, by artifact type ("executable", "debuginfo", "section", "metrics", "other"). */
  requests: Record<string, number>;
  /** Responses sent, by HTTP status code. */
  responses: Record<string, number>;
  /** Build-ID requests answered with a file. */
  hits: number;
  /** Build-ID requests answered 404. */
  misses: number;
  /** Files that changed in place since the scan when a request came for them (answered 503). */
  changed: number;
  /** Indexed files found gone when a request came for them (no file, or another file, at the path). */
  vanished: number;
  /** Indexed paths refused when a request came for them: a symbolic link on the way from their root, or under no root. */
  refused: number;
  /** Responses cut short, their connection closed, because the file shrank while it was sent. */
  truncated: number;
  /** Connections closed on arrival because their client address held its most ({@link ServeOptions.maxConnectionsPerClient}). */
  refusedConnections: number;
  /** Body bytes sent. */
  bytes: number;
  /** Responses whose client went away before the end. */
  aborted: number;
  /** Requests refused before routing (malformed, headers too large, timed out). */
  clientErrors: number;
  /** Rescans done since the server started. */
  rescans: number;
  /** Rescans that failed. */
  rescanErrors: number;
  /** Grooms done since the server started. */
  grooms: number;
  /** Build-ID requests answered with a file from upstream or the client cache (elfutils' `http_responses_total{result="upstream"}`). */
  forwarded: number;
  /** The forwarding's counters, when there are upstreams. */
  upstream?: UpstreamMetrics;
}

/** A running server from {@link serveDebuginfod}. */
export interface DebuginfodServer {
  /** Base URL, e.g. `http://127.0.0.1:8002`, for `DEBUGINFOD_URLS`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Live counters. */
  metrics: ServerMetrics;
  /**
   * Rescans now (as elfutils' server does on SIGUSR1), or right after the rescan under way: one
   * rescan at a time, and calls while one waits share it. Resolves with its figures.
   */
  rescan(): Promise<ScanStats>;
  /** Grooms now (as elfutils' server does on SIGUSR2), after the scan or groom under way. Resolves with its figures. */
  groom(): Promise<GroomStats>;
  /** Stops the rescans (one under way ends at its next pause), stops accepting, closes every connection and resolves when the server has closed. */
  close(): Promise<void>;
}

/** The longest rescan interval, in whole seconds: timers take at most {@link MAX_INTERVAL_MS}. */
export const MAX_RESCAN_SECONDS = Math.floor(MAX_INTERVAL_MS / 1000);

/** Bodies below this many bytes are read at once and sent in one write; larger ones are streamed. */
const SMALL_BODY = HELD_MAX_BYTES;

/** Interval between sweeps of the held descriptors, in ms: one not asked for since the last sweep is closed. */
const HELD_SWEEP_MS = 10_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Made once: its stack is never read. */
const NOT_FOUND = new HttpError(404, "not found");

// One "bytes=" range of a body of `size` bytes, or undefined for none; throws 416 for an unsatisfiable one.
function parseRange(header: string | undefined, size: number): { from: number; to: number } | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let from: number;
  let to: number;
  if (m[1] === "") {
    from = Math.max(0, size - Number(m[2]));
    to = size - 1;
  } else {
    from = Number(m[1]);
    to = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(from) || from >= size || to < from) {
    throw new HttpError(416, "range not satisfiable", { "Content-Range": `bytes */${size}` });
  }
  return { from, to };
}

/** A body to send: `length` bytes at `start` of the open `fd`, with its mtime and `X-DEBUGINFOD-*` headers but the size, or its indexed file. */
interface Body {
  fd: number;
  /** `fd` is these {@link HeldFiles}' own: left open, and its file read through them at once. */
  held?: HeldFiles;
  start: number;
  length: number;
  mtimeMs?: number;
  headers?: Record<string, string>;
  /** Its indexed file (all of it when `whole`). */
  file?: IndexedFile;
  whole?: boolean;
}

function indexBody({ fd, held, file, start, length }: OpenedArtifact): Body {
  return { fd, held, start, length, file, whole: start === 0 && length === Number(file.size) };
}

/** A whole indexed file's 200 headers, by the lookup cache's file object (the same until a commit). */
const wholeFileHeaders = new WeakMap<IndexedFile, OutgoingHttpHeaders>();

// The headers of `body`'s response: bytes `from` to `to` of it, with `status`.
function headersOf(body: Body, status: number, from: number, to: number): OutgoingHttpHeaders {
  const { file, length } = body;
  const whole = status === 200 && file !== undefined && body.whole === true;
  const known = whole && wholeFileHeaders.get(file);
  if (known) return known;
  const headers: OutgoingHttpHeaders = {
    "Content-Type": "application/octet-stream",
    "Content-Length": String(to - from + 1),
    "X-DEBUGINFOD-SIZE": String(length),
    ...(file ? { "X-DEBUGINFOD-FILE": basename(file.path) } : body.headers),
    "Last-Modified": new Date(file ? Number(file.mtimeNs / 1_000_000n) : (body.mtimeMs ?? 0)).toUTCString(),
    "Cache-Control": "public",
    "Accept-Ranges": "bytes",
  };
  if (status === 206) headers["Content-Range"] = `bytes ${from}-${to}/${length}`;
  if (whole) wholeFileHeaders.set(file, headers);
  return headers;
}

function sendBody(req: IncomingMessage, res: ServerResponse, body: Body, metrics: ServerMetrics): void {
  const { fd, start, length } = body;
  const release = (): void => {
    if (!body.held) closeSync(fd);
  };
  const maxSize = Number(req.headers["x-debuginfod-maxsize"] ?? 0);
  let range: ReturnType<typeof parseRange>;
  try {
    if (maxSize > 0 && length > maxSize) throw new HttpError(406, `file too large, max size=${maxSize}`);
    range = parseRange(req.headers.range, length);
  } catch (error) {
    release();
    throw error;
  }
  const from = range?.from ?? 0;
  const to = range?.to ?? length - 1;
  const status = range ? 206 : 200;
  // One object to writeHead: no setHeader per header.
  res.writeHead(status, headersOf(body, status, from, to));
  metrics.hits++;
  count(metrics.responses, status === 200 ? "200" : "206");
  if (req.method === "HEAD" || to < from) {
    release();
    res.end();
    return;
  }
  if (to - from < SMALL_BODY || body.held) {
    let bytes: Uint8Array;
    try {
      const kept = body.held?.kept(body.file!);
      bytes = kept ? kept.subarray(start + from, start + to + 1) : readBody(fd, start + from, to - from + 1);
    } finally {
      release();
    }
    if (bytes.length !== to - from + 1) {
      metrics.truncated++;
      res.destroy(); // the file shrank under us: cut the response rather than send a short body
      return;
    }
    metrics.bytes += bytes.length;
    noteSent(res, bytes.length);
    res.end(bytes);
    return;
  }
  const stream = createReadStream("", { fd, start: start + from, end: start + to, autoClose: true });
  let sent = 0;
  stream.on("data", (chunk) => {
    sent += chunk.length;
    metrics.bytes += chunk.length;
    noteSent(res, chunk.length);
  });
  stream.on("error", () => res.destroy());
  // A body cut short cannot be told from a whole one on a kept-alive connection: close it, so the client knows now.
  stream.on("end", () => {
    if (sent === to - from + 1) return void res.end();
    metrics.truncated++;
    res.destroy();
  });
  res.on("close", () => {
    if (!res.writableFinished) metrics.aborted++;
    stream.destroy();
  });
  stream.pipe(res, { end: false });
}

// Rescans one at a time: the first at once when asked, each next timed `seconds` after the last one ended, or asked for; stopped by close().
function rescanner(index: BuildIdIndex, seconds: number, options: ServeOptions, metrics: ServerMetrics) {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<ScanStats> | undefined;
  let queued: Promise<ScanStats> | undefined;
  const schedule = (): void => {
    clearTimeout(timer);
    if (seconds > 0 && !abort.signal.aborted) timer = setTimeout(() => void start().catch(() => {}), seconds * 1000);
  };
  const start = (): Promise<ScanStats> => {
    clearTimeout(timer);
    const run = (async () => {
      try {
        const stats = await index.scan({ signal: abort.signal, onProgress: options.onScanProgress });
        metrics.rescans++;
        await options.onRescan?.(stats);
        return stats;
      } catch (error) {
        if (!abort.signal.aborted) {
          metrics.rescanErrors++;
          options.onRescanError?.(error);
        }
        throw error;
      } finally {
        running = undefined;
        schedule();
      }
    })();
    running = run;
    return run;
  };
  if (index.readonly) seconds = 0;
  else if (options.scanAtStart) void start().catch(() => {});
  else schedule();
  return {
    rescan(): Promise<ScanStats> {
      if (abort.signal.aborted) return Promise.reject(abort.signal.reason);
      if (!running) return start();
      queued ??= running
        .catch(() => {})
        .then(() => {
          queued = undefined;
          return start();
        });
      return queued;
    },
    async stop(): Promise<void> {
      abort.abort(new Error("the server is closing"));
      clearTimeout(timer);
      await Promise.allSettled([running, queued]);
    },
  };
}

// Grooms one at a time (the index runs them after its scans): each timed `seconds` after the last one ended, or asked for; stopped by close().
function groomer(index: BuildIdIndex, seconds: number, options: ServeOptions, metrics: ServerMetrics) {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<GroomStats> | undefined;
  const schedule = (): void => {
    clearTimeout(timer);
    if (seconds > 0 && !abort.signal.aborted && !index.readonly)
      timer = setTimeout(() => void start().catch(() => {}), seconds * 1000);
  };
  const start = (): Promise<GroomStats> => {
    clearTimeout(timer);
    const run = index.groom({ signal: abort.signal }).then(
      (stats) => {
        metrics.grooms++;
        options.onGroom?.(stats);
        return stats;
      },
      (error: unknown) => {
        if (!abort.signal.aborted) options.onRescanError?.(error);
        throw error;
      },
    );
    running = run.finally(() => {
      running = undefined;
      schedule();
    });
    return run;
  };
  schedule();
  return {
    groom: (): Promise<GroomStats> =>
      abort.signal.aborted ? Promise.reject(abort.signal.reason) : (running?.catch(() => {}).then(start) ?? start()),
    async stop(): Promise<void> {
      abort.abort(new Error("the server is closing"));
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}

function count(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

/** Adds every counter of `from` into `into`, as {@link metricsText} sums processes. @internal */
export function addMetrics(into: ServerMetrics, from: ServerMetrics): void {
  addInto(into as unknown as Record<string, unknown>, from);
}

// Adds every number of `from` into `into`, field by field, through nested tables and arrays.
function addInto(into: Record<string, unknown>, from: object): void {
  for (const [key, value] of Object.entries(from)) {
    if (typeof value === "number") into[key] = ((into[key] as number | undefined) ?? 0) + value;
    else if (value !== null && typeof value === "object") {
      into[key] ??= Array.isArray(value) ? [] : {};
      addInto(into[key] as Record<string, unknown>, value);
    }
  }
}

/**
 * The `/metrics` text of `index` and the processes' counters, summed with those of the serving
 * processes that `exited` (their gauges left out: they run nothing), then requests per process. @internal
 */
export function metricsText(index: BuildIdIndex, processes: readonly ProcessMetrics[], exited?: ServerMetrics): string {
  const m = newMetrics();
  for (const p of processes) addMetrics(m, p.metrics);
  const running = m.upstream && { active: m.upstream.active, waiting: m.upstream.waiting };
  if (exited) addMetrics(m, exited);
  if (m.upstream) Object.assign(m.upstream, running ?? { active: 0, waiting: 0 });
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const labelled = (label: string, table: Record<string, number>): [string, number][] =>
    Object.entries(table).map(([k, v]) => [`{${label}="${k}"}`, v]);
  metric("http_requests_total", "counter", "Requests received, by artifact type.", labelled("type", m.requests));
  metric("http_responses_total", "counter", "Responses sent, by status code; and as elfutils, those from upstream.", [
    ...labelled("code", m.responses),
    ...(m.upstream ? [['{result="upstream"}', m.forwarded] as [string, number]] : []),
  ]);
  metric("buildid_hits_total", "counter", "Build-ID requests answered with a file.", [["", m.hits]]);
  metric("buildid_misses_total", "counter", "Build-ID requests answered 404.", [["", m.misses]]);
  metric("buildid_changed_total", "counter", "Indexed files found changed in place when requested.", [["", m.changed]]);
  metric("buildid_vanished_total", "counter", "Indexed files found gone when requested.", [["", m.vanished]]);
  metric("buildid_refused_total", "counter", "Indexed paths refused when requested: a link, or under no root.", [
    ["", m.refused],
  ]);
  metric("http_responses_truncated_total", "counter", "Responses cut because the file shrank.", [["", m.truncated]]);
  metric("http_connections_refused_total", "counter", "Connections refused: their address held its most.", [
    ["", m.refusedConnections],
  ]);
  metric("http_responses_transfer_bytes_sum", "counter", "Body bytes sent.", [["", m.bytes]]);
  metric("http_responses_aborted_total", "counter", "Responses cut short by the client.", [["", m.aborted]]);
  metric("http_client_errors_total", "counter", "Requests refused before routing.", [["", m.clientErrors]]);
  metric("rescans_total", "counter", "Rescans of the index since the server started.", [["", m.rescans]]);
  metric("rescan_errors_total", "counter", "Rescans that failed.", [["", m.rescanErrors]]);
  metric("grooms_total", "counter", "Grooms of the index since the server started.", [["", m.grooms]]);
  const scan = index.lastScan;
  metric("index_buildids", "gauge", "Distinct build IDs in the index.", [["", index.size]]);
  metric("index_database_bytes", "gauge", "Bytes the index database takes (its pages).", [["", index.databaseBytes]]);
  const now = index.progress;
  metric("scan_in_progress", "gauge", "1 while a scan runs.", [["", now ? 1 : 0]]);
  if (now) {
    metric("scan_progress_directories", "gauge", "Directories the scan under way has listed.", [["", now.directories]]);
    metric("scan_progress_files", "gauge", "Files the scan under way has found.", [["", now.files]]);
    metric("scan_progress_handled", "gauge", "Files the scan under way has read or kept.", [["", now.handled]]);
    metric("scan_progress_reads", "gauge", "Files the scan under way has read.", [["", now.reads]]);
  }
  if (scan) {
    metric("scan_files", "gauge", "Regular files the last scan found.", [["", scan.files]]);
    metric("scan_reads", "gauge", "Files the last scan read.", [["", scan.reads]]);
    metric("scan_reused", "gauge", "Files the last scan kept unread (stamp unchanged).", [["", scan.reused]]);
    metric("scan_removed", "gauge", "Files the last scan no longer found.", [["", scan.removed]]);
    metric("scan_unreadable", "gauge", "Entries the last scan could not read.", [["", scan.unreadable]]);
    metric("scan_duration_seconds", "gauge", "Wall time of the last scan.", [["", scan.durationMs / 1000]]);
  }
  if (m.upstream) lines.push(...upstreamMetricLines(m.upstream));
  const late = processes.filter((p) => p.late).length;
  metric(
    "serving_processes",
    "gauge",
    "Processes answering requests (a primary and its serving processes) that reported in time.",
    [["", processes.length - late]],
  );
  metric("serving_processes_late", "gauge", "Serving processes late to report: their last report is counted.", [
    ["", late],
  ]);
  metric(
    "serving_process_late",
    "gauge",
    "1 for a serving process late to report, by process.",
    processes.map((p) => [`{pid="${p.pid}"}`, p.late ? 1 : 0]),
  );
  metric(
    "serving_process_requests_total",
    "counter",
    "Requests received by each serving process.",
    processes.map((p) => [`{pid="${p.pid}"}`, Object.values(p.metrics.requests).reduce((a, b) => a + b, 0)]),
  );
  return `${lines.join("\n")}\n`;
}

/** Forwards a miss upstream and sends what comes back (see {@link forwarder}). */
type Forward = (
  req: IncomingMessage,
  res: ServerResponse,
  what: { artifact: ClientArtifact; id: string; name: string },
) => Promise<void>;

/** What a request is answered from: the index and what the server keeps beside it. */
interface Serving {
  index: BuildIdIndex;
  metrics: ServerMetrics;
  federation: { upstream: Upstream; forward: Forward } | undefined;
  members: IndexedMembers;
  held: HeldFiles;
  lookups: LookupCache;
  /** The `/metrics` text: this server's counters, or those of every serving process. */
  metricsText(): Promise<string>;
}

function sendText(req: IncomingMessage, res: ServerResponse, type: string, text: string, metrics: ServerMetrics): void {
  const length = Buffer.byteLength(text);
  res.writeHead(200, { "Content-Type": type, "Content-Length": length });
  count(metrics.responses, "200");
  if (req.method === "HEAD") return void res.end();
  noteSent(res, length);
  res.end(text);
}

function route(serving: Serving, req: IncomingMessage, res: ServerResponse): void | Promise<void> {
  const { index, metrics, federation, held, lookups } = serving;
  if (req.method !== "GET" && req.method !== "HEAD")
    throw new HttpError(405, "GET and HEAD only", { Allow: "GET, HEAD" });
  const raw = (req.url ?? "").split("?")[0]!;
  if (!raw.startsWith("/")) throw new HttpError(400, "malformed request target");
  let parts: string[];
  try {
    parts = raw.slice(1).split("/").map(decodeURIComponent);
  } catch {
    throw new HttpError(400, "malformed percent-encoding");
  }
  if (parts.length === 1 && (parts[0] === "metrics" || parts[0] === "")) {
    count(metrics.requests, parts[0] || "/");
    if (parts[0] === "metrics")
      return serving.metricsText().then((text) => sendText(req, res, "text/plain; version=0.0.4", text, metrics));
    sendText(req, res, "text/plain", "buildid-cache debuginfod server\n", metrics);
    return;
  }
  if (parts[0] !== "buildid") {
    count(metrics.requests, "other");
    throw new HttpError(404, "unknown path");
  }
  const [, id = "", artifact = "", ...rest] = parts;
  if (artifact === "source") {
    count(metrics.requests, artifact);
    if (!isUrlBuildId(id)) throw new HttpError(400, "invalid build ID: want lowercase hex of even length");
    let path: string;
    try {
      path = sourceRequestPath(rest);
    } catch (error) {
      if (error instanceof SourceRequestError) throw new HttpError(400, error.message);
      throw error;
    }
    const opened = index.openSource(id, path);
    if (opened) {
      noteSource(res, "index");
      const { fd, stat } = opened;
      const headers = { "X-DEBUGINFOD-FILE": basename(opened.path) };
      sendBody(
        req,
        res,
        { fd, start: 0, length: Number(stat.size), mtimeMs: Number(stat.mtimeNs / 1_000_000n), headers },
        metrics,
      );
      return;
    }
    return sourceFromArchive(serving, req, res, id, path);
  }
  if (!ARTIFACTS.includes(artifact as Artifact)) {
    count(metrics.requests, "other");
    throw new HttpError(400, `unsupported artifact type ${JSON.stringify(artifact)}`);
  }
  count(metrics.requests, artifact);
  const section = artifact === "section" ? rest.join("/") : "";
  if (artifact === "section" ? rest.length !== 1 || !isSectionName(section) : rest.length !== 0) {
    throw new HttpError(400, "malformed artifact suffix");
  }
  if (!isUrlBuildId(id)) throw new HttpError(400, "invalid build ID: want lowercase hex of even length");
  const found = openArtifact(lookups, id, artifact as Artifact, section, held);
  if ("fd" in found) {
    noteSource(res, "index");
    sendBody(req, res, indexBody(found), metrics);
    return;
  }
  metrics.changed += found.changed;
  metrics.vanished += found.gone;
  metrics.refused += found.refused;
  if (found.changed === 0 && lookups.inArchives(id))
    return fromArchive(serving, req, res, id, artifact as Artifact, section);
  if (found.changed > 0) throw new HttpError(503, "file changed since the index was built", { "Retry-After": "10" });
  // Federation: a miss goes upstream, but a section the index's debuginfo lacks does not exist (as elfutils).
  if (federation && !(artifact === "section" && lookups.lookup(id).some((f) => f.debuginfo))) {
    return federation.forward(req, res, { artifact: artifact as Artifact, id, name: section });
  }
  metrics.misses++;
  throw NOT_FOUND;
}

// A source no file on disk holds, from a member of a package archive (archive-artifact.ts); a miss goes upstream when there are upstreams.
// Sends an archive member that was found (true), or closes it when the client has gone.
function sendMember(
  req: IncomingMessage,
  res: ServerResponse,
  opened: Body | undefined,
  metrics: ServerMetrics,
): boolean {
  if (!opened) return false;
  if (res.destroyed) closeSync(opened.fd);
  else {
    noteSource(res, "archive");
    sendBody(req, res, opened, metrics);
  }
  return true;
}

async function sourceFromArchive(
  { metrics, federation, members }: Serving,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  path: string,
): Promise<void> {
  if (sendMember(req, res, await members.openSource(id, path), metrics)) return;
  // Federation: a source the index does not hold is a miss to forward.
  if (federation) return federation.forward(req, res, { artifact: "source", id, name: path });
  metrics.misses++;
  throw NOT_FOUND;
}

// An artifact no plain file holds, from a package archive's member; a miss goes upstream when there are upstreams.
async function fromArchive(
  { index, metrics, federation, members }: Serving,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  artifact: Artifact,
  section: string,
): Promise<void> {
  if (sendMember(req, res, await members.open(id, artifact, section), metrics)) return;
  if (federation && !(artifact === "section" && index.members(id).some((m) => (m.kind & KIND.DEBUGINFO) !== 0))) {
    return federation.forward(req, res, { artifact, id, name: section });
  }
  metrics.misses++;
  throw NOT_FOUND;
}

/**
 * The miss path of a server with upstreams: the requester's connection waits without its idle
 * timeout while the query runs (the query has its own bounds), then gets the cache entry the query
 * left, with the upstream's headers, or the query's status.
 */
function forwarder(upstream: Upstream, idleTimeout: number, metrics: ServerMetrics): Forward {
  return async (req, res, what) => {
    const xff = req.headers["x-forwarded-for"];
    req.socket.setTimeout(0);
    let got: Awaited<ReturnType<Upstream["forward"]>>;
    try {
      got = await upstream.forward({
        ...what,
        forwardedFor: Array.isArray(xff) ? xff.join(", ") : xff,
        userAgent: req.headers["user-agent"],
        client: numericHost(req.socket.remoteAddress ?? ""),
      });
    } finally {
      if (!req.socket.destroyed) req.socket.setTimeout(idleTimeout);
    }
    if ("status" in got) {
      if (got.status === 404) metrics.misses++;
      throw new HttpError(got.status, got.message);
    }
    if (res.destroyed) {
      closeSync(got.fd);
      return;
    }
    metrics.forwarded++;
    noteSource(res, got.from satisfies AnswerSource);
    sendBody(req, res, { fd: got.fd, start: 0, length: got.size, mtimeMs: got.mtimeMs, headers: got.headers }, metrics);
  };
}

// Answers a request that failed: its status and message, or a cut connection once headers are out.
function fail(req: IncomingMessage, res: ServerResponse, error: unknown, metrics: ServerMetrics): void {
  const status = error instanceof HttpError ? error.status : 500;
  const text = `${error instanceof HttpError ? error.message : "internal error"}\n`;
  count(metrics.responses, String(status));
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const length = Buffer.byteLength(text);
  res.writeHead(status, {
    "Content-Type": "text/plain",
    "Content-Length": length,
    ...(error instanceof HttpError ? error.headers : {}),
  });
  if (req.method === "HEAD") return void res.end();
  noteSent(res, length);
  res.end(text);
}

/**
 * The key a client's connections are counted under: an IPv4 address as it is (an IPv4-mapped
 * IPv6 one too), an IPv6 address by its /64, which one host is routed whole. @internal
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/** One serving process's counters, as a pool gathers them for `/metrics`. */
export interface ProcessMetrics {
  /** The process's id. */
  pid: number;
  /** Its counters. */
  metrics: ServerMetrics;
  /** It did not answer in time: {@link ProcessMetrics.metrics} are those it sent last (zeros if none). */
  late?: boolean;
}

/** The counters of a pool's serving processes, as {@link ServingPool.metrics} gathers them. @internal */
export interface PoolMetrics {
  /** Each serving process that is running or has not been seen to exit. */
  processes: ProcessMetrics[];
  /** The counters of those that exited, as each last sent them, summed. */
  exited: ServerMetrics;
}

/**
 * Serving processes a server hands its connections to (pool.ts); the server answers a connection
 * itself while none is ready, and `/metrics` sums its own counters and theirs. @internal
 */
export interface ServingPool {
  /** Hands `socket` to a ready serving process, calling `closed` once it has closed it; false when none is ready. */
  take(socket: Socket, closed: () => void): boolean;
  /** The counters of each ready serving process, the last ones it sent if it does not answer in time, and of those that exited. */
  metrics(): Promise<PoolMetrics>;
  /** Answers a serving process asking for the `/metrics` text with what `text` makes. */
  answerMetrics(text: () => Promise<string>): void;
  /** Stops every serving process and resolves once they have exited. */
  close(): Promise<void>;
}

/** Options of {@link debuginfodService}: a server's, without those of listening and scanning. @internal */
export interface ServiceOptions
  extends Pick<
    ServeOptions,
    "maxHeaderBytes" | "headersTimeoutMs" | "idleTimeoutMs" | "keepAliveTimeoutMs" | "upstream" | "requestLog"
  > {
  /** Makes the `/metrics` text from this service's counters; default: its own counters and its index. */
  metricsText?: (own: ServerMetrics) => Promise<string>;
}

/** The answering half of a server: connections accepted elsewhere are handed to it. @internal */
export interface DebuginfodService {
  /** Live counters. */
  metrics: ServerMetrics;
  /** Answers the requests that come on `socket`, accepted by a listener here or in another process. */
  accept(socket: Socket): void;
  /** Closes every connection and every descriptor the service holds. */
  close(): Promise<void>;
}

/** Counters at zero. @internal */
export function newMetrics(): ServerMetrics {
  return {
    requests: {},
    responses: {},
    hits: 0,
    misses: 0,
    changed: 0,
    vanished: 0,
    refused: 0,
    truncated: 0,
    refusedConnections: 0,
    bytes: 0,
    aborted: 0,
    clientErrors: 0,
    rescans: 0,
    rescanErrors: 0,
    grooms: 0,
    forwarded: 0,
  };
}

/**
 * Answers debuginfod requests over `index` on connections accepted elsewhere ({@link DebuginfodService.accept}):
 * the server's own listener, or a primary process's (pool.ts).
 * @throws TypeError or RangeError naming a bad option.
 * @internal
 */
export function debuginfodService(index: BuildIdIndex, options: ServiceOptions = {}): DebuginfodService {
  const maxHeaderSize = integer("maxHeaderBytes", options.maxHeaderBytes ?? 8192, 256);
  const headersTimeout = integer("headersTimeoutMs", options.headersTimeoutMs ?? 10_000, 1);
  const idleTimeout = integer("idleTimeoutMs", options.idleTimeoutMs ?? 30_000, 1);
  const keepAliveTimeout = integer("keepAliveTimeoutMs", options.keepAliveTimeoutMs ?? 5000, 1);
  const metrics = newMetrics();
  const upstream = options.upstream && options.upstream.urls.length > 0 ? new Upstream(options.upstream) : undefined;
  if (upstream) metrics.upstream = upstream.metrics;
  const federation = upstream && { upstream, forward: forwarder(upstream, idleTimeout, metrics) };
  const members = new IndexedMembers(index);
  const held = new HeldFiles();
  const lookups = new LookupCache(index);
  const text = options.metricsText ?? (async (own) => metricsText(index, [{ pid: process.pid, metrics: own }]));
  const serving: Serving = { index, metrics, federation, members, held, lookups, metricsText: () => text(metrics) };
  // A file removed from a root is not kept alive by its held descriptor for longer than two sweeps.
  const sweeps = setInterval(() => held.sweep(), HELD_SWEEP_MS).unref();
  const server = createServer(
    {
      maxHeaderSize,
      headersTimeout,
      requestTimeout: headersTimeout,
      keepAliveTimeout,
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
    },
    (req, res) => {
      if (options.requestLog) logRequest(req, res, options.requestLog);
      try {
        route(serving, req, res)?.catch((error: unknown) => fail(req, res, error, metrics));
      } catch (error) {
        fail(req, res, error, metrics);
      }
    },
  );
  server.timeout = idleTimeout;
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    metrics.clientErrors++;
    // A timed-out socket is dropped unanswered: writing to it there leaves it open (Node 20).
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT" || !socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    const status = error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  // It never listens itself: its 'listening' starts node:http's header and request timeouts.
  server.emit("listening");
  return {
    metrics,
    accept(socket) {
      socket.setNoDelay(true);
      server.emit("connection", socket);
      socket.resume();
    },
    async close() {
      server.closeAllConnections();
      server.close(() => {});
      clearInterval(sweeps);
      held.clear();
      lookups.close();
      await members.dispose();
    },
  };
}

function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Serves `index` over HTTP until `close()`. Binds 127.0.0.1:8002 unless told otherwise; slow or
 * stalled clients are cut off by the header and idle timeouts, connections past the caps are closed
 * on arrival, and no error of one request affects another. With a pool of serving processes (`serve -j`),
 * connections go to them, answered here only while none is ready.
 * @throws TypeError or RangeError naming a bad option; Node's `EADDRINUSE` and the like when it cannot bind.
 */
export async function serveDebuginfod(index: BuildIdIndex, options: ServeOptions = {}): Promise<DebuginfodServer> {
  const port = integer("port", options.port ?? 8002, 0, 65535);
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host === "")
    throw new TypeError(`host must be a non-empty string, got ${JSON.stringify(host)}`);
  const maxConnections = integer("maxConnections", options.maxConnections ?? 4096, 1);
  const maxPerClient = integer(
    "maxConnectionsPerClient",
    options.maxConnectionsPerClient ?? Math.max(1, Math.floor(maxConnections / 64)),
    1,
  );
  const rescanSeconds = integer("rescanSeconds", options.rescanSeconds ?? 0, 0, MAX_RESCAN_SECONDS);
  const groomSeconds = integer("groomSeconds", options.groomSeconds ?? 0, 0, MAX_RESCAN_SECONDS);
  const { pool } = options;
  const gathered = async (own: ServerMetrics): Promise<string> => {
    const pooled = await pool?.metrics();
    return metricsText(index, [{ pid: process.pid, metrics: own }, ...(pooled?.processes ?? [])], pooled?.exited);
  };
  const service = debuginfodService(index, { ...options, metricsText: gathered });
  const { metrics } = service;
  pool?.answerMetrics(() => gathered(metrics));
  // Connections are counted here, where they are accepted, wherever they are answered.
  const held = new Map<string, number>();
  let open = 0;
  const listener = createNetServer({ pauseOnConnect: true }, (socket) => {
    const key = clientKey(socket.remoteAddress ?? "");
    const n = held.get(key) ?? 0;
    if (open >= maxConnections || n >= maxPerClient) {
      if (open < maxConnections) metrics.refusedConnections++;
      socket.destroy();
      return;
    }
    open++;
    held.set(key, n + 1);
    let closed = false;
    const release = (): void => {
      if (closed) return;
      closed = true;
      open--;
      const left = held.get(key)! - 1;
      if (left === 0) held.delete(key);
      else held.set(key, left);
    };
    if (pool?.take(socket, release)) return;
    socket.once("close", release);
    service.accept(socket);
  });
  try {
    await listen(listener, port, host);
  } catch (error) {
    await service.close();
    throw error;
  }
  const bound = (listener.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  const rescans = rescanner(index, rescanSeconds, options, metrics);
  const grooms = groomer(index, groomSeconds, options, metrics);
  return {
    url: `http://${shown}:${bound}`,
    port: bound,
    metrics,
    rescan: () => rescans.rescan(),
    groom: () => grooms.groom(),
    close: async () => {
      await Promise.all([rescans.stop(), grooms.stop()]);
      const stopped = new Promise<void>((resolve, reject) =>
        listener.close((error) => (error ? reject(error) : resolve())),
      );
      await Promise.all([service.close(), pool?.close()]);
      await stopped;
    },
  };
}
