// The address-space model phase by phase: map, overlap, unmap, fork, threads, exec, exit, PID reuse,
// the kernel's space, snapshots, time order, and the batch lookup. Expected answers are worked out
// from the events in each test (file offset = address - start + pgoff).
import { describe, expect, test } from "vitest";
import {
  AddressSpaces,
  KERNEL_PID,
  LookupResults,
  LookupStatus,
  type LookupStatusCode,
  lookupFailure,
  type SpaceEvent,
  SpaceEventError,
} from "../../src/spaces/index.js";
import { CHUNK_MAX } from "../../src/spaces/layout.js";
import { thrownBy } from "../helpers/thrown.js";
import { at, EXE, inode, LIBC, LIBEXPAT, LIBZ, map, OTHER } from "./helpers.js";

/** A model fed `events`. */
function fed(...events: SpaceEvent[]): AddressSpaces {
  const spaces = new AddressSpaces();
  for (const e of events) spaces.apply(e);
  return spaces;
}

describe("map", () => {
  test("a mapping answers for every address inside it, at address - start + pgoff, and for none outside", () => {
    const spaces = fed(map(5n, 1, 0x1000n, 0x3000n, LIBC, 0x20000n));
    expect(at(spaces, 1, 0x1000n)).toBe("/usr/lib/libc.so.6+0x20000");
    expect(at(spaces, 1, 0x2345n)).toBe("/usr/lib/libc.so.6+0x21345");
    expect(at(spaces, 1, 0x3fffn)).toBe("/usr/lib/libc.so.6+0x22fff");
    expect(at(spaces, 1, 0xfffn)).toBe("no-mapping");
    expect(at(spaces, 1, 0x4000n)).toBe("no-mapping");
    const r = spaces.lookup(1, 0x1000n);
    expect(r.ok && [r.mapping.since, r.mapping.start, r.mapping.end, r.space.updatedAt]).toEqual([
      5n,
      0x1000n,
      0x4000n,
      5n,
    ]);
  });

  test("one file id per file: two mappings of a file share it, another file has another", () => {
    const spaces = fed(
      map(1n, 1, 0x1000n, 0x1000n, LIBC),
      map(2n, 1, 0x5000n, 0x1000n, LIBC, 0x1000n),
      map(3n, 2, 0x1000n, 0x1000n, LIBC),
      map(4n, 1, 0x9000n, 0x1000n, LIBZ),
      map(5n, 1, 0xa000n, 0x1000n, { path: LIBC.path, file: inode(100, 2n) }),
    );
    const id = (pid: number, a: bigint) => {
      const r = spaces.lookup(pid, a);
      return r.ok ? r.fileId : r.reason;
    };
    expect(id(1, 0x5000n)).toBe(id(1, 0x1000n));
    expect(id(2, 0x1000n)).toBe(id(1, 0x1000n));
    expect(id(1, 0x9000n)).not.toBe(id(1, 0x1000n));
    // Another inode generation is another file, whatever its path.
    expect(id(1, 0xa000n)).not.toBe(id(1, 0x1000n));
  });

  test("a pid never seen is no-process; a map makes its space, which holds only its own mappings", () => {
    const spaces = fed(map(1n, 1, 0x1000n, 0x1000n, LIBC));
    expect(at(spaces, 7, 0x1000n)).toBe("no-process");
    expect(spaces.space(7)).toBeUndefined();
    expect(spaces.space(1)!.size).toBe(1);
    expect(spaces.stats().processes).toBe(1);
  });
});

describe("overlap: a new mapping replaces what it covers, older ones trimmed or split", () => {
  const old = map(1n, 1, 0x1000n, 0x4000n, LIBZ, 0x10000n); // [0x1000, 0x5000)

  test("over the front: the old mapping keeps its back, its file offsets unchanged", () => {
    const spaces = fed(old, map(2n, 1, 0x0n, 0x2000n, LIBEXPAT));
    expect(at(spaces, 1, 0x1fffn)).toBe("/usr/lib/libexpat.so.1+0x1fff");
    expect(at(spaces, 1, 0x2000n)).toBe("/usr/lib/libz.so.1+0x11000");
    expect(at(spaces, 1, 0x4fffn)).toBe("/usr/lib/libz.so.1+0x13fff");
    const r = spaces.lookup(1, 0x2000n);
    expect(r.ok && [r.mapping.start, r.mapping.pgoff, r.mapping.since]).toEqual([0x2000n, 0x11000n, 1n]);
  });

  test("over the back: the old mapping keeps its front", () => {
    const spaces = fed(old, map(2n, 1, 0x4000n, 0x2000n, LIBEXPAT));
    expect(at(spaces, 1, 0x3fffn)).toBe("/usr/lib/libz.so.1+0x12fff");
    expect(at(spaces, 1, 0x4000n)).toBe("/usr/lib/libexpat.so.1+0x0");
    expect(at(spaces, 1, 0x5fffn)).toBe("/usr/lib/libexpat.so.1+0x1fff");
  });

  test("in the middle: the old mapping is split in two around it, both halves with its file and time", () => {
    const spaces = fed(old, map(2n, 1, 0x2000n, 0x1000n, LIBEXPAT, 0x7000n));
    expect(at(spaces, 1, 0x1fffn)).toBe("/usr/lib/libz.so.1+0x10fff");
    expect(at(spaces, 1, 0x2000n)).toBe("/usr/lib/libexpat.so.1+0x7000");
    expect(at(spaces, 1, 0x3000n)).toBe("/usr/lib/libz.so.1+0x12000");
    expect(spaces.space(1)!.size).toBe(3);
    const halves = [...spaces.space(1)!.mappings()].filter((m) => m.path === LIBZ.path);
    expect(halves.map((m) => [m.start, m.end, m.pgoff, m.since])).toEqual([
      [0x1000n, 0x2000n, 0x10000n, 1n],
      [0x3000n, 0x5000n, 0x12000n, 1n],
    ]);
    expect(halves[0]!.fileId).toBe(halves[1]!.fileId);
  });

  test("over several whole mappings and parts of two more: one mapping in their place", () => {
    const spaces = fed(
      map(1n, 1, 0x1000n, 0x2000n, LIBC),
      map(2n, 1, 0x3000n, 0x1000n, LIBZ),
      map(3n, 1, 0x4000n, 0x1000n, LIBZ),
      map(4n, 1, 0x5000n, 0x2000n, LIBC, 0x5000n),
      map(5n, 1, 0x2000n, 0x4000n, OTHER),
    );
    expect([...spaces.space(1)!.mappings()].map((m) => [m.path, m.start, m.end])).toEqual([
      [LIBC.path, 0x1000n, 0x2000n],
      [OTHER.path, 0x2000n, 0x6000n],
      [LIBC.path, 0x6000n, 0x7000n],
    ]);
    expect(at(spaces, 1, 0x6000n)).toBe("/usr/lib/libc.so.6+0x6000");
  });

  test("a library mapped over part of another's old range answers the new library (dlclose libz, dlopen libexpat)", () => {
    // The first case: glibc maps libexpat where libz's text was.
    const spaces = fed(
      map(1n, 1, 0x7f00_0000_0000n, 0x20000n, LIBZ, 0x2000n),
      map(9n, 1, 0x7f00_0000_4000n, 0x8000n, LIBEXPAT, 0x1000n),
    );
    expect(at(spaces, 1, 0x7f00_0000_5000n)).toBe("/usr/lib/libexpat.so.1+0x2000");
    expect(at(spaces, 1, 0x7f00_0000_5000n, 10n)).toBe("/usr/lib/libexpat.so.1+0x2000");
    // A sample from before the new mapping cannot be answered through it.
    expect(at(spaces, 1, 0x7f00_0000_5000n, 8n)).toBe("changed");
    expect(at(spaces, 1, 0x7f00_0000_3000n, 8n)).toBe("/usr/lib/libz.so.1+0x5000");
  });
});

describe("unmap", () => {
  const old = map(1n, 1, 0x1000n, 0x4000n, LIBZ);

  test("removes the front, the back, the middle or all of a mapping", () => {
    const front = fed(old, { type: "unmap", time: 2n, pid: 1, start: 0x0n, length: 0x2000n });
    expect([at(front, 1, 0x1fffn), at(front, 1, 0x2000n)]).toEqual(["no-mapping", "/usr/lib/libz.so.1+0x1000"]);
    const back = fed(old, { type: "unmap", time: 2n, pid: 1, start: 0x4000n, length: 0x1000n });
    expect([at(back, 1, 0x3fffn), at(back, 1, 0x4000n)]).toEqual(["/usr/lib/libz.so.1+0x2fff", "no-mapping"]);
    const middle = fed(old, { type: "unmap", time: 2n, pid: 1, start: 0x2000n, length: 0x1000n });
    expect([at(middle, 1, 0x1fffn), at(middle, 1, 0x2000n), at(middle, 1, 0x3000n)]).toEqual([
      "/usr/lib/libz.so.1+0xfff",
      "no-mapping",
      "/usr/lib/libz.so.1+0x2000",
    ]);
    const all = fed(old, { type: "unmap", time: 2n, pid: 1, start: 0x0n, length: 0x10000n });
    expect(all.space(1)!.size).toBe(0);
    expect(all.stats().mappings).toBe(0);
  });

  test("of a pid never seen, or exited, changes nothing", () => {
    const spaces = fed(
      old,
      { type: "exit", time: 2n, pid: 1, tid: 1 },
      { type: "unmap", time: 3n, pid: 1, start: 0x1000n, length: 0x1000n },
      { type: "unmap", time: 3n, pid: 5, start: 0x1000n, length: 0x1000n },
    );
    expect(spaces.space(5)).toBeUndefined();
    expect(at(spaces, 1, 0x1000n, 1n)).toBe("/usr/lib/libz.so.1+0x0");
  });
});

describe("fork", () => {
  const parent = [map(1n, 10, 0x1000n, 0x1000n, EXE), map(2n, 10, 0x8000n, 0x2000n, LIBC)];

  test("a new process starts with a copy of its parent's space; afterwards each changes alone", () => {
    const spaces = fed(
      ...parent,
      { type: "comm", time: 2n, pid: 10, tid: 10, comm: "app", exec: false },
      { type: "fork", time: 3n, pid: 11, ppid: 10, tid: 11, ptid: 10 },
    );
    expect(at(spaces, 11, 0x8000n)).toBe("/usr/lib/libc.so.6+0x0");
    expect(spaces.space(11)!.comm).toBe("app");
    spaces.apply(map(4n, 10, 0x8000n, 0x1000n, LIBZ));
    spaces.apply(map(5n, 11, 0x1000n, 0x1000n, OTHER));
    expect([at(spaces, 10, 0x8000n), at(spaces, 11, 0x8000n)]).toEqual([
      "/usr/lib/libz.so.1+0x0",
      "/usr/lib/libc.so.6+0x0",
    ]);
    expect([at(spaces, 10, 0x1000n), at(spaces, 11, 0x1000n)]).toEqual(["/usr/bin/app+0x0", "/usr/bin/other+0x0"]);
    // Before its fork the child did not exist.
    expect(at(spaces, 11, 0x8000n, 2n)).toBe("no-process");
  });

  test("the copy is shared until one side changes: a fork adds no mappings to what is held", () => {
    const spaces = fed(...Array.from({ length: 300 }, (_, i) => map(1n, 10, BigInt(i) * 0x2000n, 0x1000n, LIBC)));
    expect(spaces.stats().mappings).toBe(300);
    for (let child = 11; child < 111; child++) {
      spaces.apply({ type: "fork", time: 2n, pid: child, ppid: 10, tid: child, ptid: 10 });
    }
    expect(spaces.stats().mappings).toBe(300);
    spaces.apply(map(3n, 11, 0x0n, 0x1000n, LIBZ));
    // The child's change copies the chunk it touched, not the space.
    expect(spaces.stats().mappings).toBeGreaterThan(300);
    expect(spaces.stats().mappings).toBeLessThanOrEqual(300 + CHUNK_MAX);
  });

  test("a new thread shares its process's space: maps by any of its threads are seen by all", () => {
    const spaces = fed(...parent, { type: "fork", time: 3n, pid: 10, ppid: 10, tid: 12, ptid: 10 });
    spaces.apply({ ...map(4n, 10, 0x20000n, 0x1000n, LIBZ), tid: 12 });
    expect(at(spaces, 10, 0x20000n)).toBe("/usr/lib/libz.so.1+0x0");
    expect(spaces.stats().processes).toBe(1);
  });

  test("a synthesised fork (a process perf found running) starts empty and keeps a space its threads began", () => {
    const spaces = fed(
      map(0n, 1, 0x1000n, 0x1000n, LIBZ),
      // perf synthesises a thread before its leader when /proc lists it first.
      { type: "fork", time: 0n, pid: 20, ppid: 20, tid: 21, ptid: 20, synthesized: true },
      { type: "fork", time: 0n, pid: 20, ppid: 1, tid: 20, ptid: 1, synthesized: true },
      map(0n, 20, 0x5000n, 0x1000n, EXE),
    );
    expect(at(spaces, 20, 0x1000n)).toBe("no-mapping");
    expect(at(spaces, 20, 0x5000n)).toBe("/usr/bin/app+0x0");
    // The thread forked first still counts: the leader's exit leaves the space alive.
    spaces.apply({ type: "exit", time: 1n, pid: 20, tid: 20 });
    expect(at(spaces, 20, 0x5000n)).toBe("/usr/bin/app+0x0");
  });
});

describe("exec", () => {
  test("ends the old program's space: its mappings answer only for times before the exec", () => {
    const spaces = fed(
      map(1n, 10, 0x1000n, 0x1000n, EXE),
      { type: "comm", time: 5n, pid: 10, tid: 10, comm: "other", exec: true },
      map(6n, 10, 0x2000n, 0x1000n, OTHER),
    );
    expect(at(spaces, 10, 0x1000n)).toBe("no-mapping");
    expect(at(spaces, 10, 0x1000n, 4n)).toBe("/usr/bin/app+0x0");
    expect(at(spaces, 10, 0x1000n, 5n)).toBe("no-mapping");
    expect(at(spaces, 10, 0x2000n)).toBe("/usr/bin/other+0x0");
    expect(at(spaces, 10, 0x2000n, 4n)).toBe("no-mapping");
    const space = spaces.space(10)!;
    expect([space.comm, space.bornAt, space.previous?.end, space.previous?.endedAt]).toEqual(["other", 5n, "exec", 5n]);
  });

  test("an exec by a non-leader thread: the old leader's exit before it does not end the process", () => {
    // de_thread: the other threads (the leader among them) exit, then the exec'ing thread takes the pid.
    const spaces = fed(
      map(1n, 10, 0x1000n, 0x1000n, EXE),
      { type: "fork", time: 2n, pid: 10, ppid: 10, tid: 12, ptid: 10 },
      { type: "exit", time: 3n, pid: 10, tid: 10 },
      { type: "comm", time: 4n, pid: 10, tid: 10, comm: "other", exec: true },
      map(5n, 10, 0x2000n, 0x1000n, OTHER),
    );
    expect(at(spaces, 10, 0x1000n, 3n)).toBe("/usr/bin/app+0x0");
    expect(at(spaces, 10, 0x2000n)).toBe("/usr/bin/other+0x0");
    // The new program's only thread is its leader: its exit ends the space.
    spaces.apply({ type: "exit", time: 6n, pid: 10, tid: 10 });
    expect(at(spaces, 10, 0x2000n)).toBe("exited");
  });
});

describe("exit", () => {
  test("the leader's exit ends the space: exited from then, answered for times before", () => {
    const spaces = fed(map(1n, 10, 0x1000n, 0x1000n, EXE), { type: "exit", time: 5n, pid: 10, tid: 10 });
    expect(at(spaces, 10, 0x1000n)).toBe("exited");
    expect(at(spaces, 10, 0x1000n, 5n)).toBe("exited");
    expect(at(spaces, 10, 0x1000n, 4n)).toBe("/usr/bin/app+0x0");
    expect(spaces.space(10)!.end).toBe("exit");
    expect(spaces.stats()).toMatchObject({ processes: 0, ended: 1 });
  });

  test("a leader that exits before its threads leaves the space alive until the last thread exits", () => {
    const spaces = fed(
      map(1n, 10, 0x1000n, 0x1000n, EXE),
      { type: "fork", time: 2n, pid: 10, ppid: 10, tid: 12, ptid: 10 },
      { type: "fork", time: 2n, pid: 10, ppid: 10, tid: 13, ptid: 10 },
      { type: "exit", time: 3n, pid: 10, tid: 10 },
      { type: "exit", time: 4n, pid: 10, tid: 12 },
    );
    expect(at(spaces, 10, 0x1000n)).toBe("/usr/bin/app+0x0");
    spaces.apply({ type: "exit", time: 5n, pid: 10, tid: 13 });
    expect(at(spaces, 10, 0x1000n)).toBe("exited");
    expect(spaces.space(10)!.endedAt).toBe(5n);
  });
});

describe("PID reuse", () => {
  test("a new process with a dead one's pid never sees the dead one's mappings", () => {
    const spaces = fed(
      map(1n, 10, 0x1000n, 0x1000n, EXE),
      { type: "exit", time: 2n, pid: 10, tid: 10 },
      map(3n, 30, 0x5000n, 0x1000n, OTHER),
      { type: "fork", time: 4n, pid: 10, ppid: 30, tid: 10, ptid: 30 },
    );
    expect(at(spaces, 10, 0x1000n)).toBe("no-mapping");
    expect(at(spaces, 10, 0x5000n)).toBe("/usr/bin/other+0x0");
    expect(at(spaces, 10, 0x1000n, 1n)).toBe("/usr/bin/app+0x0");
    expect(at(spaces, 10, 0x1000n, 3n)).toBe("exited");
  });

  test("a fork onto a live pid (its exit lost) ends the old space as reused", () => {
    const spaces = fed(map(1n, 10, 0x1000n, 0x1000n, EXE), {
      type: "fork",
      time: 4n,
      pid: 10,
      ppid: 1,
      tid: 10,
      ptid: 1,
    });
    expect(at(spaces, 10, 0x1000n)).toBe("no-mapping");
    expect(spaces.space(10)!.previous?.end).toBe("reused");
    expect(at(spaces, 10, 0x1000n, 3n)).toBe("/usr/bin/app+0x0");
  });

  test("a map for a dead pid starts a new space without reviving the old mappings", () => {
    const spaces = fed(
      map(1n, 10, 0x1000n, 0x2000n, EXE),
      { type: "exit", time: 2n, pid: 10, tid: 10 },
      map(3n, 10, 0x2000n, 0x1000n, OTHER),
    );
    expect([at(spaces, 10, 0x1000n), at(spaces, 10, 0x2000n)]).toEqual(["no-mapping", "/usr/bin/other+0x0"]);
  });
});

describe("the kernel's space", () => {
  test("maps with KERNEL_PID go to the kernel's space, which no process sees and no fork copies", () => {
    const kernel = { path: "[kernel.kallsyms]_text", file: { kind: "pseudo" } } as const;
    const spaces = fed(
      map(0n, KERNEL_PID, 0xffff_ffff_8100_0000n, 0x100_0000n, kernel, 0xffff_ffff_8100_0000n),
      map(1n, 10, 0x1000n, 0x1000n, EXE),
      { type: "fork", time: 2n, pid: 11, ppid: KERNEL_PID, tid: 11, ptid: KERNEL_PID },
    );
    expect(at(spaces, KERNEL_PID, 0xffff_ffff_8123_4567n)).toBe("[kernel.kallsyms]_text+0xffffffff81234567");
    expect(at(spaces, 10, 0xffff_ffff_8123_4567n)).toBe("no-mapping");
    expect(at(spaces, 11, 0xffff_ffff_8123_4567n)).toBe("no-mapping");
    expect(spaces.kernel.size).toBe(1);
    expect(spaces.stats().processes).toBe(2);
  });
});

describe("anonymous and pseudo mappings", () => {
  test("anonymous memory is anonymous with its mapping; [vdso], build-ID and unknown files resolve", () => {
    const pseudo = { kind: "pseudo" } as const;
    const spaces = fed(
      map(1n, 1, 0x1000n, 0x1000n, { path: "//anon", file: pseudo }),
      map(1n, 1, 0x2000n, 0x1000n, { path: "[heap]", file: pseudo }),
      map(1n, 1, 0x3000n, 0x1000n, { path: "[stack]", file: inode(0) }),
      map(1n, 1, 0x4000n, 0x1000n, { path: "[vdso]", file: pseudo }),
      map(1n, 1, 0x5000n, 0x1000n, { path: "/usr/bin/node", file: { kind: "build-id", buildId: Uint8Array.of(1, 2) } }),
      map(1n, 1, 0x6000n, 0x1000n, { path: "/old/file", file: { kind: "unknown" } }),
      // A build ID names a file, whatever the path says.
      map(1n, 1, 0x7000n, 0x1000n, { path: "//anon", file: { kind: "build-id", buildId: Uint8Array.of(3) } }),
    );
    expect([0x1000n, 0x2000n, 0x3000n, 0x4000n, 0x5000n, 0x6000n, 0x7010n].map((a) => at(spaces, 1, a))).toEqual([
      "anonymous",
      "anonymous",
      "anonymous",
      "[vdso]+0x0",
      "/usr/bin/node+0x0",
      "/old/file+0x0",
      "//anon+0x10",
    ]);
    const heap = spaces.lookup(1, 0x2000n);
    expect(!heap.ok && heap.mapping?.path).toBe("[heap]");
  });

  test("a build ID given by the caller is copied: changing the caller's bytes later changes nothing", () => {
    const bytes = Uint8Array.of(0xaa, 0xbb);
    const spaces = fed(map(1n, 1, 0x1000n, 0x1000n, { path: "/x", file: { kind: "build-id", buildId: bytes } }));
    bytes[0] = 0;
    const r = spaces.lookup(1, 0x1000n);
    expect(r.ok && r.mapping.file).toEqual({ kind: "build-id", buildId: Uint8Array.of(0xaa, 0xbb) });
  });
});

describe("snapshot", () => {
  const lines = [
    { start: 0x5000n, length: 0x1000n, pgoff: 0x3000n, prot: 5, flags: 2, ...LIBC },
    { start: 0x1000n, length: 0x2000n, pgoff: 0n, prot: 5, flags: 2, ...EXE },
  ];

  test("a first read makes the space, in any order; a later read replaces all of it from its time", () => {
    const spaces = fed({ type: "snapshot", time: 10n, pid: 7, mappings: lines });
    expect([at(spaces, 7, 0x2fffn), at(spaces, 7, 0x5000n)]).toEqual([
      "/usr/bin/app+0x1fff",
      "/usr/lib/libc.so.6+0x3000",
    ]);
    expect(spaces.space(7)!.bornAt).toBe(10n);
    expect(at(spaces, 7, 0x1000n, 9n)).toBe("no-process");
    spaces.apply({ type: "snapshot", time: 20n, pid: 7, mappings: [lines[0]!] });
    expect(at(spaces, 7, 0x1000n)).toBe("no-mapping");
    // A mapping read again is known only from the later read.
    expect(at(spaces, 7, 0x5000n, 15n)).toBe("changed");
    expect(at(spaces, 7, 0x5000n, 20n)).toBe("/usr/lib/libc.so.6+0x3000");
    expect(spaces.space(7)!.updatedAt).toBe(20n);
  });
});

describe("time order", () => {
  test("equal times are in order; an event older than its space's last is refused, per space", () => {
    const spaces = fed(map(5n, 1, 0x1000n, 0x1000n, LIBC), map(5n, 1, 0x2000n, 0x1000n, LIBZ));
    const before = [spaces.stats(), at(spaces, 1, 0x1000n), at(spaces, 1, 0x2000n)];
    const error = thrownBy(() => spaces.apply(map(4n, 1, 0x1000n, 0x1000n, OTHER)));
    expect(error).toBeInstanceOf(SpaceEventError);
    expect((error as SpaceEventError).code).toBe("OUT_OF_ORDER");
    expect(error.message).toBe("map event for pid 1 at 4 is older than the last event of pid 1's space, at 5");
    expect([spaces.stats(), at(spaces, 1, 0x1000n), at(spaces, 1, 0x2000n)]).toEqual(before);
    // Another space has its own order.
    spaces.apply(map(4n, 2, 0x1000n, 0x1000n, OTHER));
    expect(at(spaces, 2, 0x1000n)).toBe("/usr/bin/other+0x0");
  });

  test("a fork older than its parent's last event is refused; the parent's later events cannot go back before the fork", () => {
    const spaces = fed(map(5n, 1, 0x1000n, 0x1000n, LIBC));
    expect(
      (thrownBy(() => spaces.apply({ type: "fork", time: 4n, pid: 2, ppid: 1, tid: 2, ptid: 1 })) as SpaceEventError)
        .code,
    ).toBe("OUT_OF_ORDER");
    expect(spaces.space(2)).toBeUndefined();
    spaces.apply({ type: "fork", time: 9n, pid: 2, ppid: 1, tid: 2, ptid: 1 });
    expect((thrownBy(() => spaces.apply(map(8n, 1, 0x1000n, 0x1000n, OTHER))) as SpaceEventError).code).toBe(
      "OUT_OF_ORDER",
    );
  });
});

describe("lookupMany", () => {
  const spaces = fed(
    map(1n, 1, 0xffff_f000n, 0x2000n, LIBC, 0xffff_ffff_ffff_f000n),
    map(1n, 1, 0x10_0000n, 0x1000n, { path: "[heap]", file: { kind: "pseudo" } }),
    map(3n, 1, 0x20_0000n, 0x1000n, LIBZ),
  );
  const addresses = BigUint64Array.of(0xffff_f000n, 0x1_0000_0fffn, 0x10_0010n, 0x20_0000n, 0x5n, 0x1_0000_0000n);

  test("writes what lookup answers, index for index, into the given range only", () => {
    const out = new LookupResults(8);
    out.status.fill(99);
    const space = spaces.lookupMany(1, addresses, out, 2n, 1, 5);
    expect(space).toBe(spaces.space(1));
    expect(out.status[0]).toBe(99);
    expect(out.status[5]).toBe(99);
    for (let i = 1; i < 5; i++) {
      const one = spaces.lookup(1, addresses[i]!, 2n);
      expect([i, lookupFailure(out.status[i] as LookupStatusCode) ?? "ok"]).toEqual([i, one.ok ? "ok" : one.reason]);
      expect(out.fileId[i]).toBe(one.ok ? one.fileId : -1);
      expect(out.mapping[i]).toBe(one.ok || one.reason === "anonymous" ? one.mapping : undefined);
      if (one.ok) expect(out.fileOffset[i]).toBe(one.fileOffset);
    }
    // Across 2^32, with a pgoff near 2^64: the offset wraps mod 2^64 as address - start + pgoff does.
    expect(out.fileOffset[1]).toBe(BigInt.asUintN(64, 0x1_0000_0fffn - 0xffff_f000n + 0xffff_ffff_ffff_f000n));
    expect([...out.status.subarray(1, 5)]).toEqual([
      LookupStatus.OK,
      LookupStatus.ANONYMOUS,
      LookupStatus.CHANGED,
      LookupStatus.NO_MAPPING,
    ]);
  });

  test("for a pid with no space every status says why, and nothing else is left behind", () => {
    const out = new LookupResults(addresses.length);
    spaces.lookupMany(1, addresses, out);
    expect(spaces.lookupMany(9, addresses, out)).toBeUndefined();
    expect([...out.status]).toEqual(Array(addresses.length).fill(LookupStatus.NO_PROCESS));
    expect([...out.fileId]).toEqual(Array(addresses.length).fill(-1));
    expect(out.mapping.every((m) => m === undefined)).toBe(true);
    expect([...out.fileOffset]).toEqual(Array(addresses.length).fill(0n));
  });
});
