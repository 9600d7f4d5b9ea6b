/**
 * Checks an event's shape before the model touches anything: a field of the wrong type is a
 * `TypeError`, a number out of range a `RangeError` ("event.start must be …, got …", as
 * `src/check.ts` words them), and a range or pid the model cannot take a {@link SpaceEventError}.
 *
 * @module
 */
import { bool, instance, integer, oneOf, string, u64 } from "../check.js";
import { describe } from "../describe.js";
import { SpaceEventError } from "./errors.js";
import { type FileRef, KERNEL_PID, type MappingFields, type SpaceEvent } from "./events.js";

const TYPES: readonly SpaceEvent["type"][] = ["map", "unmap", "fork", "comm", "exit", "snapshot"];
const KINDS: readonly FileRef["kind"][] = ["inode", "build-id", "pseudo", "unknown"];
const U32_MAX = 2 ** 32 - 1;
const PID_MAX = 2 ** 31 - 1;
const TWO_64 = 1n << 64n;
/** Longest path taken: the kernel's `PATH_MAX`, the size of MMAP2's filename field. */
const PATH_MAX = 4096;
/** Longest command name taken (the kernel's is 15 characters). */
const COMM_MAX = 256;

/** "map event for pid 42 at 7": how messages name an event. */
export function eventName(event: SpaceEvent): string {
  return `${event.type} event for pid ${event.pid} at ${event.time}`;
}

function object(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== "object")
    throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

function text(name: string, value: unknown, max: number): void {
  if (string(name, value).length > max) {
    throw new RangeError(`${name} must be at most ${max} characters, got ${(value as string).length}`);
  }
}

function id(name: string, value: unknown): number {
  return integer(name, value, -1, PID_MAX);
}

function checkRange(event: SpaceEvent, what: string, start: bigint, length: bigint): void {
  if (length === 0n)
    throw new SpaceEventError("BAD_RANGE", `${eventName(event)}: ${what} at 0x${start.toString(16)} is empty`);
  if (start + length > TWO_64) {
    throw new SpaceEventError(
      "BAD_RANGE",
      `${eventName(event)}: ${what} 0x${start.toString(16)} + 0x${length.toString(16)} runs past 2^64`,
    );
  }
}

function checkFile(name: string, value: unknown): void {
  const file = object(name, value);
  const kind = oneOf(`${name}.kind`, file.kind, KINDS);
  if (kind === "inode") {
    integer(`${name}.major`, file.major, 0, U32_MAX);
    integer(`${name}.minor`, file.minor, 0, U32_MAX);
    u64(`${name}.inode`, file.inode);
    if (file.generation !== undefined) u64(`${name}.generation`, file.generation);
  } else if (kind === "build-id") {
    const bytes = instance(`${name}.buildId`, file.buildId, Uint8Array);
    if (bytes.length < 1 || bytes.length > 255) {
      throw new RangeError(`${name}.buildId must be 1 to 255 bytes, got ${bytes.length}`);
    }
  }
}

function checkFields(event: SpaceEvent, name: string, value: unknown): void {
  const m = object(name, value);
  const start = u64(`${name}.start`, m.start);
  const length = u64(`${name}.length`, m.length);
  u64(`${name}.pgoff`, m.pgoff);
  integer(`${name}.prot`, m.prot, 0, U32_MAX);
  integer(`${name}.flags`, m.flags, 0, U32_MAX);
  text(`${name}.path`, m.path, PATH_MAX);
  checkFile(`${name}.file`, m.file);
  checkRange(event, name === "event" ? "the mapping" : name, start, length);
}

/** Throws unless `value` is a well-formed {@link SpaceEvent}; changes nothing. */
export function checkEvent(value: unknown): asserts value is SpaceEvent {
  const e = object("event", value);
  const type = oneOf("event.type", e.type, TYPES);
  u64("event.time", e.time);
  const pid = id("event.pid", e.pid);
  const event = value as SpaceEvent;
  switch (type) {
    case "map":
      id("event.tid", e.tid);
      checkFields(event, "event", e);
      return;
    case "unmap":
      checkRange(event, "the range", u64("event.start", e.start), u64("event.length", e.length));
      return;
    case "fork":
      id("event.ppid", e.ppid);
      id("event.tid", e.tid);
      id("event.ptid", e.ptid);
      if (e.synthesized !== undefined) bool("event.synthesized", e.synthesized);
      break;
    case "comm":
      id("event.tid", e.tid);
      text("event.comm", e.comm, COMM_MAX);
      bool("event.exec", e.exec);
      break;
    case "exit":
      id("event.tid", e.tid);
      break;
    case "snapshot": {
      const mappings = e.mappings;
      if (!Array.isArray(mappings)) throw new TypeError(`event.mappings must be an array, got ${describe(mappings)}`);
      mappings.forEach((m, i) => {
        checkFields(event, `event.mappings[${i}]`, m);
      });
      return;
    }
  }
  if (pid === KERNEL_PID) {
    throw new SpaceEventError("BAD_PID", `${eventName(event)}: the kernel's space has no processes or threads`);
  }
}

/** A snapshot's mappings sorted by start; throws if two overlap. */
export function sortedMappings(event: SpaceEvent, mappings: readonly MappingFields[]): MappingFields[] {
  const sorted = [...mappings].sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const before = sorted[i - 1]!;
    const after = sorted[i]!;
    if (before.start + before.length > after.start) {
      throw new SpaceEventError(
        "OVERLAP",
        `${eventName(event)}: the mappings at 0x${before.start.toString(16)} (${describe(before.path)}) and 0x${after.start.toString(16)} (${describe(after.path)}) overlap`,
      );
    }
  }
  return sorted;
}
