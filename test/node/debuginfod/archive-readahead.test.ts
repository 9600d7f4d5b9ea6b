// The archive readers read one chunk ahead of the decoder (archive-decode.ts readRange). A read still
// in flight when a walk ends would land on whatever file the descriptor number names once the caller
// closes it (a socket, another archive): every read must have settled when extractMember or
// scanArchive resolves or rejects, whichever decoder stopped early.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const reads = vi.hoisted(() => ({ inFlight: 0, started: 0 }));

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  const read = ((...args: unknown[]) => {
    const done = args.pop() as (...result: unknown[]) => void;
    reads.inFlight++;
    reads.started++;
    (fs.read as (...a: unknown[]) => void)(...args, (...result: unknown[]) => {
      reads.inFlight--;
      done(...result);
    });
  }) as typeof fs.read;
  return { ...fs, default: { ...fs, read }, read };
});

const { extractMember, scanArchive } = await import("../../../src/node/debuginfod/archive.js");
const { compress, hasTool, tarArchive, writeDeb } = await import("./archive-fixtures.js");

const tools = hasTool("xz") && hasTool("gzip") && hasTool("zstd");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "readahead-"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// 4 MiB that does not compress: SHA-256 of 0, 1, 2, ….
const filler = Buffer.concat(
  Array.from({ length: (4 << 20) / 32 }, (_, i) => createHash("sha256").update(String(i)).digest()),
);

// A .deb whose data.tar holds a small member, then the filler, so the walk for the first member ends
// with the payload far from read.
function deb(kind: "none" | "gzip" | "xz" | "zstd"): string {
  const tar = tarArchive([
    { name: "./usr/share/first", data: Buffer.from("first member\n") },
    { name: "./usr/share/filler", data: filler },
  ]);
  const data = kind === "none" ? tar : compress(kind, tar, kind === "xz" ? ["-0"] : []);
  const name = kind === "none" ? "data.tar" : `data.tar.${kind === "gzip" ? "gz" : kind === "xz" ? "xz" : "zst"}`;
  return writeDeb(join(dir, `${kind}.deb`), name, data);
}

describe.runIf(tools).each(["none", "gzip", "xz", "zstd"] as const)("a %s payload", (kind) => {
  it("no read is in flight once extractMember of the first member resolves", async () => {
    const path = deb(kind);
    reads.started = 0;
    const chunks: Uint8Array[] = [];
    await extractMember(path, "/usr/share/first", 13, (chunk) => {
      chunks.push(chunk);
    });
    expect(reads.inFlight).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe("first member\n");
    // It stopped early: far fewer 64 KiB reads than the 4 MiB payload takes.
    expect(reads.started).toBeLessThan(32);
  });

  it("no read is in flight once a scan cut short by a signal rejects", async () => {
    const path = deb(kind);
    const controller = new AbortController();
    const scanning = scanArchive(path, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(scanning).rejects.toThrow("stop");
    expect(reads.inFlight).toBe(0);
  });
});
