/**
 * The server's request log: one line per request, written when its response ends (finished, cut
 * or abandoned by the client), in the shape of a web server's access log with the debuginfod
 * parts elfutils' server logs (`X-Forwarded-For`) and where the answer came from:
 *
 * ```
 * TIME CLIENT "METHOD TARGET" STATUS BYTES MSms FROM XFF [cut]
 * 2024-05-01T12:00:00.123Z 127.0.0.1:51234 "GET /buildid/0123…/debuginfo" 200 151344 3ms index -
 * ```
 *
 * TIME is ISO 8601 in UTC; CLIENT the peer's address and port (`[v6]:port` for IPv6); TARGET the
 * request target as sent; STATUS the status sent (`-` when the response ended before its headers); BYTES the body bytes sent (a HEAD: 0); MS the
 * whole-millisecond time from the request to the end of its response; FROM `index`, `archive`,
 * `upstream`, `cache` (the client cache, no upstream asked) or `-` (no file: an error, `/metrics`);
 * XFF the request's `X-Forwarded-For` (white space after its commas dropped, as elfutils logs it) or `-`; `cut` when the response did not finish (the client
 * went away, or the file shrank while sent). TARGET and XFF are the client's own words: every byte
 * outside printable ASCII, and `"`, `\` and space, is written `\xHH`, so a line is always one line
 * of these fields.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Where an answer came from, as the request log names it. */
export type AnswerSource = "index" | "archive" | "upstream" | "cache";

interface Note {
  from?: AnswerSource;
  sent: number;
}

// Only logged responses carry a note.
const notes = new WeakMap<ServerResponse, Note>();

/** Records where the answer to `res` came from, when it is logged. */
export function noteSource(res: ServerResponse, from: AnswerSource): void {
  const n = notes.get(res);
  if (n) n.from = from;
}

/** Records `bytes` more of a body handed to `res`, when it is logged: every body written is noted. */
export function noteSent(res: ServerResponse, bytes: number): void {
  const n = notes.get(res);
  if (n) n.sent += bytes;
}

/** `text` with every byte outside printable ASCII, and `"`, `\` and space, as `\xHH`. @internal */
export function escapeField(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "latin1")) {
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

function peer(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? "-";
  return `${address.includes(":") ? `[${address}]` : address}:${req.socket.remotePort ?? "-"}`;
}

/** Writes the log line of `req` through `write` when its response ends. */
export function logRequest(req: IncomingMessage, res: ServerResponse, write: (line: string) => void): void {
  const started = performance.now();
  const client = peer(req); // read now: a destroyed socket forgets its peer
  const n: Note = { sent: 0 };
  notes.set(res, n);
  res.once("close", () => {
    const done = res.writableFinished;
    const bytes = n.sent;
    const header = req.headers["x-forwarded-for"];
    const xff = Array.isArray(header) ? header.join(", ") : header;
    write(
      [
        new Date().toISOString(),
        client,
        `"${escapeField(req.method ?? "-")} ${escapeField(req.url ?? "")}"`,
        res.headersSent ? res.statusCode : "-",
        bytes,
        `${Math.round(performance.now() - started)}ms`,
        n.from ?? "-",
        xff ? escapeField(xff.replace(/,\s+/g, ",")) : "-",
        ...(done ? [] : ["cut"]),
      ].join(" "),
    );
  });
}
