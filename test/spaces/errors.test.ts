// One test per row of docs/errors.md's address-space table, named by the row's id: the input, the
// error, its message, and that the model is as it was (its stats and its answers).
import { describe, expect, test } from "vitest";
import { FileTable } from "../../src/spaces/files.js";
import {
  AddressSpaces,
  KERNEL_PID,
  LookupResults,
  type SpaceEvent,
  SpaceEventError,
  type SpaceEventErrorCode,
} from "../../src/spaces/index.js";
import { thrownBy } from "../helpers/thrown.js";
import { at, inode, LIBC, map } from "./helpers.js";

/** A model with one process and one mapping. */
function sample(): AddressSpaces {
  const spaces = new AddressSpaces();
  spaces.apply(map(5n, 1, 0x1000n, 0x1000n, LIBC));
  return spaces;
}

/** Applies `event` (any shape), expects `type` with exactly `message`, and checks the model is unchanged. */
function refuses(
  event: unknown,
  type: abstract new (...args: never[]) => Error,
  message: string,
  code?: SpaceEventErrorCode,
): void {
  const spaces = sample();
  const before = [spaces.stats(), at(spaces, 1, 0x1000n), at(spaces, 1, 0x1000n, 5n)];
  const error = thrownBy(() => spaces.apply(event as SpaceEvent));
  expect(error.constructor).toBe(type);
  expect(error.message).toBe(message);
  if (code !== undefined) expect((error as SpaceEventError).code).toBe(code);
  expect([spaces.stats(), at(spaces, 1, 0x1000n), at(spaces, 1, 0x1000n, 5n)]).toEqual(before);
  expect(spaces.stats().events).toBe(1);
}

const good = map(6n, 1, 0x1000n, 0x1000n, LIBC);

describe("events: AddressSpaces.apply", () => {
  test("S1 not an object, or an unknown type: TypeError or RangeError", () => {
    refuses(undefined, TypeError, "event must be an object, got undefined");
    refuses(
      { ...good, type: "mmap" },
      RangeError,
      'event.type must be one of "map", "unmap", "fork", "comm", "exit", "snapshot", got "mmap"',
    );
    refuses(
      { ...good, type: 2 },
      TypeError,
      'event.type must be one of "map", "unmap", "fork", "comm", "exit", "snapshot", got 2',
    );
  });

  test("S2 a field of the wrong type: TypeError naming it", () => {
    refuses({ ...good, start: 4096 }, TypeError, "event.start must be a bigint in [0, 2^64), got 4096");
    refuses({ ...good, time: 6 }, TypeError, "event.time must be a bigint in [0, 2^64), got 6");
    refuses({ ...good, pid: "1" }, TypeError, 'event.pid must be an integer from -1 to 2147483647, got "1"');
    refuses({ ...good, path: undefined }, TypeError, "event.path must be a string, got undefined");
    refuses(
      { ...good, file: { kind: "inode", major: 8, minor: 1, inode: 5 } },
      TypeError,
      "event.file.inode must be a bigint in [0, 2^64), got 5",
    );
    refuses(
      { ...good, file: { kind: "build-id", buildId: [1, 2] } },
      TypeError,
      "event.file.buildId must be a Uint8Array, got [object Array]",
    );
    refuses(
      { type: "comm", time: 6n, pid: 1, tid: 1, comm: "x", exec: 1 },
      TypeError,
      "event.exec must be a boolean, got 1",
    );
    refuses(
      { type: "snapshot", time: 6n, pid: 1, mappings: [{ ...good, pgoff: -1 }] },
      TypeError,
      "event.mappings[0].pgoff must be a bigint in [0, 2^64), got -1",
    );
  });

  test("S3 a value out of range: pid, prot, path or comm length, build-ID size: RangeError naming it", () => {
    refuses({ ...good, pid: -2 }, RangeError, "event.pid must be an integer from -1 to 2147483647, got -2");
    refuses({ ...good, start: -1n }, RangeError, "event.start must be a bigint in [0, 2^64), got -1n");
    refuses(
      { ...good, prot: 2 ** 32 },
      RangeError,
      "event.prot must be an integer from 0 to 4294967295, got 4294967296",
    );
    refuses({ ...good, path: "/".repeat(4097) }, RangeError, "event.path must be at most 4096 characters, got 4097");
    refuses(
      { type: "comm", time: 6n, pid: 1, tid: 1, comm: "c".repeat(257), exec: false },
      RangeError,
      "event.comm must be at most 256 characters, got 257",
    );
    refuses(
      { ...good, file: { kind: "build-id", buildId: new Uint8Array(0) } },
      RangeError,
      "event.file.buildId must be 1 to 255 bytes, got 0",
    );
  });

  test("S4 an empty range, or one past 2^64: SpaceEventError BAD_RANGE", () => {
    refuses(
      { ...good, length: 0n },
      SpaceEventError,
      "map event for pid 1 at 6: the mapping at 0x1000 is empty",
      "BAD_RANGE",
    );
    refuses(
      { type: "unmap", time: 6n, pid: 1, start: 0xffff_ffff_ffff_f000n, length: 0x2000n },
      SpaceEventError,
      "unmap event for pid 1 at 6: the range 0xfffffffffffff000 + 0x2000 runs past 2^64",
      "BAD_RANGE",
    );
  });

  test("S5 a snapshot whose mappings overlap: SpaceEventError OVERLAP", () => {
    const line = { start: 0x1000n, length: 0x2000n, pgoff: 0n, prot: 5, flags: 2, ...LIBC };
    refuses(
      { type: "snapshot", time: 6n, pid: 1, mappings: [{ ...line, start: 0x2000n, path: "/b" }, line] },
      SpaceEventError,
      'snapshot event for pid 1 at 6: the mappings at 0x1000 ("/usr/lib/libc.so.6") and 0x2000 ("/b") overlap',
      "OVERLAP",
    );
  });

  test("S6 a fork, exit or comm of the kernel's space: SpaceEventError BAD_PID", () => {
    const message = (type: string) => `${type} event for pid -1 at 6: the kernel's space has no processes or threads`;
    refuses(
      { type: "fork", time: 6n, pid: KERNEL_PID, ppid: 1, tid: 1, ptid: 1 },
      SpaceEventError,
      message("fork"),
      "BAD_PID",
    );
    refuses({ type: "exit", time: 6n, pid: KERNEL_PID, tid: 0 }, SpaceEventError, message("exit"), "BAD_PID");
    refuses(
      { type: "comm", time: 6n, pid: KERNEL_PID, tid: 0, comm: "x", exec: true },
      SpaceEventError,
      message("comm"),
      "BAD_PID",
    );
  });

  test("S7 an event older than the last event of a space it touches: SpaceEventError OUT_OF_ORDER", () => {
    refuses(
      { type: "exit", time: 4n, pid: 1, tid: 1 },
      SpaceEventError,
      "exit event for pid 1 at 4 is older than the last event of pid 1's space, at 5",
      "OUT_OF_ORDER",
    );
    refuses(
      { type: "fork", time: 4n, pid: 2, ppid: 1, tid: 2, ptid: 1 },
      SpaceEventError,
      "fork event for pid 2 at 4 is older than the last event of pid 1's space, at 5",
      "OUT_OF_ORDER",
    );
  });

  test("S8 no file id left to give: SpaceEventError LIMIT (ids end at 2^31 - 1)", () => {
    const files = new FileTable(4, 1);
    files.checkRoom(2);
    files.intern(inode(1), "/a");
    files.intern(inode(2), "/b");
    expect(files.intern(inode(1), "/a").id).toBe(0);
    const error = thrownBy(() => files.checkRoom(1));
    expect(error).toBeInstanceOf(SpaceEventError);
    expect((error as SpaceEventError).code).toBe("LIMIT");
    expect(error.message).toBe("the model has named 2 files and cannot name 1 more: ids end at 1");
  });
});

describe("options and lookups", () => {
  test("S9 an option that is not an integer in its range: TypeError or RangeError, nothing made", () => {
    const bad = (options: unknown) => thrownBy(() => new AddressSpaces(options as never));
    expect(bad({ maxProcesses: 0 }).message).toBe("maxProcesses must be an integer from 1 to 16777216, got 0");
    expect(bad({ maxMappingsPerSpace: 1.5 }).message).toBe(
      "maxMappingsPerSpace must be an integer from 1 to 16777216, got 1.5",
    );
    expect(bad({ maxBytes: "1" })).toBeInstanceOf(TypeError);
    expect(bad({ maxFiles: -1 })).toBeInstanceOf(RangeError);
    expect(bad({ keepEnded: 1025 }).message).toBe("keepEnded must be an integer from 0 to 1024, got 1025");
    expect(bad(null).message).toBe("options must be an object, got null");
  });

  test("S10 a lookup's bad argument: TypeError or RangeError naming it, nothing written", () => {
    const spaces = sample();
    const out = new LookupResults(2);
    out.status.fill(7);
    const addresses = BigUint64Array.of(0x1000n, 0x1001n, 0x1002n);
    expect(thrownBy(() => spaces.lookup(1.5, 0x1000n)).message).toBe(
      "pid must be an integer from -1 to 2147483647, got 1.5",
    );
    expect(thrownBy(() => spaces.lookup(1, 0x1000 as never)).message).toBe(
      "address must be a bigint in [0, 2^64), got 4096",
    );
    expect(thrownBy(() => spaces.lookup(1, 0x1000n, -1n)).message).toBe("time must be a bigint in [0, 2^64), got -1n");
    expect(thrownBy(() => spaces.lookupMany(1, [0x1000n] as never, out)).message).toBe(
      "addresses must be a BigUint64Array, got [object Array]",
    );
    expect(thrownBy(() => spaces.lookupMany(1, addresses, out)).message).toBe("out has room for 2 values, needs 3");
    expect(thrownBy(() => spaces.lookupMany(1, addresses, out, undefined, 2, 1)).message).toBe(
      "to must be an integer from 2 to 3, got 1",
    );
    expect([...out.status]).toEqual([7, 7]);
    expect(thrownBy(() => new LookupResults(0)).message).toBe("capacity must be an integer from 1 to 16777216, got 0");
  });

  test("S11 mappingOf a slot that is not one of the last batch's: RangeError naming it", () => {
    const spaces = sample();
    const out = new LookupResults(2, { perAddress: false });
    expect(thrownBy(() => out.mappingOf(0)).message).toBe("slot 0 is not a slot of the last batch");
    spaces.lookupMany(1, BigUint64Array.of(0x1000n, 0x10n), out);
    expect(out.slot[1]).toBe(-1);
    expect(thrownBy(() => out.mappingOf(-1)).message).toBe("slot -1 is not a slot of the last batch");
    expect(thrownBy(() => out.mappingOf(4096)).message).toBe("slot 4096 is not a slot of the last batch");
  });
});
