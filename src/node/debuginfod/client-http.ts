/**
 * One GET of a debuginfod URL over `node:http` or `node:https`, sent as elfutils' client sends it:
 * the path exactly as built (libcurl's `CURLOPT_PATH_AS_IS`; `fetch` would rewrite the `..` of a
 * source path), redirects followed, `Accept-Encoding` for the encodings zlib decodes. The body is
 * decoded as it streams, and counted twice: on the wire, which `Content-Length` measures, and
 * decoded, which `X-DEBUGINFOD-SIZE` and the size bound measure.
 *
 * @packageDocumentation
 */
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  validateHeaderName,
  validateHeaderValue,
} from "node:http";
import type { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { readRegularFileSync } from "../safe-open.js";

/** Redirects followed before a GET gives up; libcurl follows any number, `fetch` 20. */
export const MAX_REDIRECTS = 8;
/** What the client accepts: every encoding Node's zlib decodes (elfutils asks for all that libcurl decodes). */
export const ACCEPT_ENCODING = "gzip, deflate, br";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Where a GET goes: a server's origin and the path to send as it is. */
export interface HttpTarget {
  /** `http://host:port` or `https://…`, as `URL.origin` gives it. */
  origin: string;
  /** The request path, sent byte for byte. */
  path: string;
}

/** A response whose body is not read yet. */
export interface HttpResponse {
  /** The HTTP status. */
  status: number;
  /** The response headers, names in lowercase. */
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: string;
  /** The body as it arrives, still encoded. */
  body: IncomingMessage;
}

/** An answer this client will not take whoever asks again: an encoding it did not ask for, a bad redirect. */
export class UnusableAnswer extends Error {}

// node:https (with tls and crypto, 30-50 ms of a start) and node:zlib are loaded only for the URLs and answers that need them.
async function send(
  target: HttpTarget,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const url = new URL(target.origin);
  const request = url.protocol === "https:" ? (await import("node:https")).request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: url.port,
        path: target.path,
        method: "GET",
        headers,
        signal,
        agent: false,
      },
      resolve,
    );
    req.on("error", reject);
    req.end();
  });
}

/** Headers that carry credentials: not sent on to another origin (libcurl and `fetch` drop them too). */
const CREDENTIALS = new Set(["authorization", "proxy-authorization", "cookie"]);

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIALS.has(name.toLowerCase())));
}

/**
 * GETs `target` with `headers` (plus `Accept-Encoding`), following up to {@link MAX_REDIRECTS}
 * redirects to http or https URLs, without the credential headers once a redirect leaves the
 * origin; `signal` aborts it, body included.
 * @throws the network's errors; UnusableAnswer for a redirect past the bound or to another scheme.
 */
export async function get(
  target: HttpTarget,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<HttpResponse> {
  let all: Record<string, string> = { ...headers, "Accept-Encoding": ACCEPT_ENCODING };
  let at = target;
  for (let hop = 0; ; hop++) {
    const res = await send(at, all, signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) {
      return { status, headers: res.headers, url: `${at.origin}${at.path}`, body: res };
    }
    res.destroy();
    if (hop === MAX_REDIRECTS) throw new UnusableAnswer(`more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, `${at.origin}${at.path}`);
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new UnusableAnswer(`redirected to ${JSON.stringify(next.href)}, not an http or https URL`);
    }
    if (next.origin !== at.origin) all = withoutCredentials(all);
    at = { origin: next.origin, path: `${next.pathname}${next.search}` };
  }
}

async function decoder(encoding: string | undefined): Promise<Transform | undefined> {
  const name = encoding?.trim().toLowerCase() ?? "identity";
  if (name === "identity" || name === "") return undefined;
  const make = {
    gzip: "createGunzip",
    "x-gzip": "createGunzip",
    deflate: "createInflate",
    br: "createBrotliDecompress",
  } as const;
  if (!Object.hasOwn(make, name)) {
    throw new UnusableAnswer(`Content-Encoding ${JSON.stringify(encoding)} is not one this client asked for`);
  }
  return (await import("node:zlib"))[make[name as keyof typeof make]]();
}

/** Whether a response's body is encoded (so `Content-Length` counts the encoded bytes). */
export function isEncoded(headers: IncomingHttpHeaders): boolean {
  const encoding = headers["content-encoding"]?.trim().toLowerCase();
  return encoding !== undefined && encoding !== "" && encoding !== "identity";
}

/** Bytes a body took on the wire and decoded. */
export interface Received {
  /** As sent, which `Content-Length` counts. */
  wire: number;
  /** After `Content-Encoding` is undone. */
  decoded: number;
}

/**
 * Streams the decoded body of `res` through `sink`, a chunk at a time (the next is read only once
 * `sink` resolves). `counts` is updated as it goes, so a caller learns how far a body got when
 * it fails. Rejects with the network's, zlib's (a truncated encoding) or `sink`'s error.
 * @throws UnusableAnswer for an encoding it did not ask for, before reading anything.
 */
export async function receive(
  res: HttpResponse,
  sink: (chunk: Uint8Array) => Promise<void>,
  counts: Received,
): Promise<Received> {
  const decode = await decoder(res.headers["content-encoding"]);
  async function* onWire(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      counts.wire += chunk.length;
      yield chunk;
    }
  }
  async function take(source: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of source) {
      counts.decoded += chunk.length;
      await sink(chunk);
    }
  }
  if (decode) await pipeline(res.body, onWire, decode, take);
  else await pipeline(res.body, onWire, take);
  return counts;
}

/** Largest `DEBUGINFOD_HEADERS_FILE` read; a larger one is skipped whole. */
export const MAX_HEADERS_FILE_BYTES = 64 * 1024;

/**
 * The request headers in the file `path`, read as elfutils' client reads `DEBUGINFOD_HEADERS_FILE`:
 * one `Name: value` a line; blank lines and lines without a colon after a name and before a value
 * skipped; also skipped here, where libcurl would send them broken, names and values HTTP does not
 * allow. A later line with a name already given (in any case) replaces it; names come back in lowercase. A file that cannot be read (absent,
 * not a regular file, over {@link MAX_HEADERS_FILE_BYTES}) gives no headers, as elfutils goes on
 * without; `log` hears of every line skipped and of such a file.
 */
export function readHeadersFile(path: string, log: (line: string) => void): Record<string, string> {
  let text: string;
  try {
    text = new TextDecoder().decode(readRegularFileSync(path, { maxBytes: MAX_HEADERS_FILE_BYTES }).bytes);
  } catch (error) {
    log(`header file ${path}: ${(error as Error).message}`);
    return {};
  }
  const headers: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    try {
      if (colon < 1 || colon === line.length - 1) throw new Error("no Name: value");
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch (error) {
      log(`skipping bad header: ${JSON.stringify(line)}: ${(error as Error).message}`);
      continue;
    }
    headers[name.toLowerCase()] = value;
  }
  return headers;
}
