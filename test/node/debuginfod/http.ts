// Requests from the tests to a server, as a real client makes them on kept-alive connections.
//
// A server closes a connection idle for its keep-alive timeout (5 s here); a request written on it
// as it closes is reset before any response. undici's guard (closing first, 1 s early) runs on a clock
// that advances one 499 ms step per timer tick, so a starved event loop lets it fall behind the
// server's: at load 20-30 a test's own work between two requests (a Buffer compared by toEqual:
// 0.1-0.2 s for 16 kB, 0.8 s seen at load 13) stretches to that timeout. libcurl (curl, gdb, debuginfod-find) retries
// such a request once on a fresh connection; so does this helper, and only then.

import { connect } from "node:net";

/** Error codes of a connection reset or closed under a request before its response began. */
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);

/** Whether `error`, from `fetch`, is a connection reset or closed before the response began. */
export function isReset(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === "string" && RESET_CODES.has(code);
}

/**
 * `fetch(url, init)` for a GET or HEAD, retried once on a fresh connection when the first try is
 * reset before its response began (see {@link isReset}); any other error, or a second reset, rejects.
 */
export async function get(url: string, init: RequestInit = {}): Promise<Response> {
  const method = (init.method ?? "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") throw new TypeError(`get() retries GET and HEAD only, got ${method}`);
  try {
    return await fetch(url, init);
  } catch (error) {
    if (!isReset(error)) throw error;
    return fetch(url, init);
  }
}

/** Whether a connection to 127.0.0.1:`port` is refused (nothing listens there). */
export const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", () => resolve(true));
  });
