// The tests' request helper (http.ts): one retry on a connection reset before the response, no more.

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { get, isReset } from "./http.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server resetting the connection of each of its first `resets` requests, then answering 200; and the requests it saw. */
async function resetting(resets: number): Promise<{ url: string; seen: () => number }> {
  let seen = 0;
  const server = createServer((socket) => {
    socket.on("data", () => {
      if (++seen <= resets) return void socket.resetAndDestroy();
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen: () => seen };
}

describe("get", () => {
  it("answers after one reset, where fetch alone rejects", async () => {
    const once = await resetting(1);
    const error = await fetch(once.url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isReset(error)).toBe(true);
    const again = await resetting(1);
    const r = await get(again.url);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
    expect(again.seen()).toBe(2);
  });

  it("rejects on a second reset: it retries once only", async () => {
    const twice = await resetting(2);
    const error = await get(twice.url).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isReset(error)).toBe(true);
    expect(twice.seen()).toBe(2);
  });

  it("retries only what may be sent twice", async () => {
    await expect(get("http://127.0.0.1:1/", { method: "POST" })).rejects.toThrow(
      "get() retries GET and HEAD only, got POST",
    );
  });
});
