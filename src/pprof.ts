/**
 * pprof annotation: fill the empty `Mapping.build_id` fields of a profile. Works on the
 * uncompressed protobuf bytes (gunzip first), in Node and in browsers.
 */
import { Profile } from "pprof-format";

/** A profile mapping as {@link annotateProfile} shows it to the lookup. */
export interface ProfileMapping {
  /** `Mapping.id`. */
  id: bigint;
  /** The mapped file's name (`""` when the profile has none). */
  filename: string;
  /** First address of the mapping. */
  memoryStart: bigint;
  /** One past its last address. */
  memoryLimit: bigint;
  /** Offset in the file of `memoryStart`. */
  fileOffset: bigint;
}

/** What a lookup answers for one mapping: a hex build ID, a reason to skip it, or `undefined` (skip, no reason). */
export type BuildIdAnswer =
  | string
  | {
      /** Why the mapping gets no build ID; it becomes {@link SkippedMapping.reason}. */
      reason: string;
    }
  | undefined;

/** Finds the build ID of a mapping's file; may be async. */
export type FindBuildId = (mapping: ProfileMapping) => BuildIdAnswer | Promise<BuildIdAnswer>;

/** A mapping whose build ID was filled. */
export interface FilledMapping {
  /** `Mapping.id`. */
  id: bigint;
  /** The mapped file's name (`""` when the profile has none). */
  filename: string;
  /** The build ID written into `Mapping.build_id`: the lookup's answer in lowercase hex. */
  buildId: string;
}

/** A mapping left as it was, and why. */
export interface SkippedMapping {
  /** `Mapping.id`. */
  id: bigint;
  /** The mapped file's name (`""` when the profile has none). */
  filename: string;
  /** The lookup's `reason`, or `"no build ID found"` when it answered `undefined`. */
  reason: string;
}

/** The result of {@link annotateProfile}. */
export interface Annotation {
  /** The annotated profile, encoded (uncompressed). */
  bytes: Uint8Array;
  /** Mappings that got a build ID. */
  filled: FilledMapping[];
  /** Mappings without a build ID that stay without one. */
  skipped: SkippedMapping[];
  /** Mappings that already had a build ID (left untouched). */
  alreadySet: number;
}

/** Bytes that are not a pprof profile; the message says where decoding failed. */
export class ProfileFormatError extends Error {
  /** Always "ProfileFormatError", so the error can be told apart after serialisation. */
  override name = "ProfileFormatError";
}

const HEX = /^(?:[0-9a-f]{2}){1,64}$/;

/** Whether `bytes` start with the gzip magic (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

// The pprof schema (profile.proto) as the walker needs it: per field number, its name and either
// "scalar" (varint, or packed varints when repeated), "bytes" (a string), or a nested message.
type Field = readonly [name: string, kind: "scalar" | "bytes" | Message];
interface Message {
  name: string;
  fields: Record<number, Field>;
}
const scalars = (...names: string[]): Record<number, Field> =>
  Object.fromEntries(names.map((name, i) => [i + 1, [name, "scalar"] as const]));
const VALUE_TYPE: Message = { name: "ValueType", fields: scalars("type", "unit") };
const LABEL: Message = { name: "Label", fields: scalars("key", "str", "num", "num_unit") };
const SAMPLE: Message = {
  name: "Sample",
  fields: { 1: ["location_id", "scalar"], 2: ["value", "scalar"], 3: ["label", LABEL] },
};
const MAPPING: Message = {
  name: "Mapping",
  fields: scalars(
    "id",
    "memory_start",
    "memory_limit",
    "file_offset",
    "filename",
    "build_id",
    "has_functions",
    "has_filenames",
    "has_line_numbers",
    "has_inline_frames",
  ),
};
const LINE: Message = { name: "Line", fields: scalars("function_id", "line", "column") };
const LOCATION: Message = {
  name: "Location",
  fields: { ...scalars("id", "mapping_id", "address"), 4: ["line", LINE], 5: ["is_folded", "scalar"] },
};
const FUNCTION: Message = { name: "Function", fields: scalars("id", "name", "system_name", "filename", "start_line") };
const PROFILE: Message = {
  name: "Profile",
  fields: {
    1: ["sample_type", VALUE_TYPE],
    2: ["sample", SAMPLE],
    3: ["mapping", MAPPING],
    4: ["location", LOCATION],
    5: ["function", FUNCTION],
    6: ["string_table", "bytes"],
    7: ["drop_frames", "scalar"],
    8: ["keep_frames", "scalar"],
    9: ["time_nanos", "scalar"],
    10: ["duration_nanos", "scalar"],
    11: ["period_type", VALUE_TYPE],
    12: ["period", "scalar"],
    13: ["comment", "scalar"],
    14: ["default_sample_type", "scalar"],
    15: ["doc_url", "scalar"],
  },
};

class Malformed extends Error {}

// A varint at `at` ending before `end`: its value (exact below 2^53) and where it ends.
function varint(bytes: Uint8Array, at: number, end: number): [number, number] {
  let value = 0;
  for (let i = 0, scale = 1; i < 10; i++, scale *= 128) {
    if (at + i >= end) throw new Malformed(`varint at byte ${at} runs past the end`);
    const b = bytes[at + i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (i === 9 && b > 1) throw new Malformed(`varint at byte ${at} overflows 64 bits`);
      return [value, at + i + 1];
    }
  }
  throw new Malformed(`varint at byte ${at} is longer than 10 bytes`);
}

// Checks every field of the `message` in bytes[start, end): valid wire types, the ones the schema
// expects, lengths inside their message, nested messages likewise.
function walk(bytes: Uint8Array, start: number, end: number, message: Message): void {
  for (let at = start; at < end; ) {
    const [tag, next] = varint(bytes, at, end);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    const [name, kind] = message.fields[number] ?? [`field ${number}`, undefined];
    const where = `${message.name}.${name} at byte ${at}`;
    if (number === 0) throw new Malformed(`field number 0 at byte ${at}`);
    at = next;
    const expect = (ok: boolean) => {
      if (!ok) throw new Malformed(`${where}: wire type ${wire} does not fit the field`);
    };
    if (wire === 0) {
      expect(kind === undefined || kind === "scalar");
      at = varint(bytes, at, end)[1];
    } else if (wire === 1 || wire === 5) {
      expect(kind === undefined);
      const size = wire === 1 ? 8 : 4;
      if (end - at < size) throw new Malformed(`${where}: ${size}-byte value runs past the end`);
      at += size;
    } else if (wire === 2) {
      const [length, body] = varint(bytes, at, end);
      if (length > end - body) {
        throw new Malformed(`${where}: length ${length} runs past the end (${end - body} bytes left)`);
      }
      at = body + length;
      if (typeof kind === "object") walk(bytes, body, at, kind);
      else if (kind === "scalar") for (let v = body; v < at; ) v = varint(bytes, v, at)[1];
    } else throw new Malformed(`${where}: invalid wire type ${wire}`);
  }
}

// What Go's profile.Parse checks after decoding: string indexes in range, ids present and unique.
function checkReferences(profile: Profile): void {
  const strings = profile.stringTable.strings;
  if (strings[0] !== "") throw new Malformed("string_table[0] must be the empty string");
  const str = (what: string, index: number | bigint) => {
    if (Number(index) < 0 || Number(index) >= strings.length) {
      throw new Malformed(`${what} is string ${index}, past the ${strings.length} strings of the table`);
    }
  };
  const ids = (what: string, items: { id: number | bigint }[]) => {
    const seen = new Set<bigint>();
    for (const { id } of items) {
      const n = BigInt(id);
      if (n === 0n || seen.has(n)) throw new Malformed(`${what} id ${n} is ${n === 0n ? "reserved" : "repeated"}`);
      seen.add(n);
    }
    return seen;
  };
  for (const t of [...profile.sampleType, ...(profile.periodType ? [profile.periodType] : [])]) {
    str("a value type", t.type);
    str("a value unit", t.unit);
  }
  for (const v of [
    profile.dropFrames,
    profile.keepFrames,
    profile.defaultSampleType,
    profile.docUrl,
    ...profile.comment,
  ])
    str("a profile field", v);
  const mappings = ids("mapping", profile.mapping);
  for (const m of profile.mapping) {
    str(`mapping ${m.id}'s filename`, m.filename);
    str(`mapping ${m.id}'s build_id`, m.buildId);
  }
  const functions = ids("function", profile.function);
  for (const f of profile.function) for (const v of [f.name, f.systemName, f.filename]) str(`function ${f.id}`, v);
  const locations = ids("location", profile.location);
  for (const l of profile.location) {
    const m = BigInt(l.mappingId);
    if (m !== 0n && !mappings.has(m)) throw new Malformed(`location ${l.id} names mapping ${m}, which is not there`);
    for (const line of l.line) {
      if (!functions.has(BigInt(line.functionId)))
        throw new Malformed(`location ${l.id} names function ${line.functionId}, which is not there`);
    }
  }
  profile.sample.forEach((s, i) => {
    if (s.value.length !== profile.sampleType.length) {
      throw new Malformed(`sample ${i} has ${s.value.length} values for ${profile.sampleType.length} sample types`);
    }
    for (const id of s.locationId) {
      if (!locations.has(BigInt(id))) throw new Malformed(`sample ${i} names location ${id}, which is not there`);
    }
    for (const label of s.label)
      for (const v of [label.key, label.str, label.numUnit]) str(`a label of sample ${i}`, v);
  });
}

/**
 * Decodes a pprof profile after checking it as Go's `pprof` does: every field's wire type and
 * length (pprof-format's decoder trusts them), then string indexes and ids.
 * @throws ProfileFormatError naming the first fault.
 */
export function decodeProfile(bytes: Uint8Array): Profile {
  if (isGzip(bytes)) throw new ProfileFormatError("the profile is gzip-compressed: gunzip it before annotating");
  if (bytes.every((b) => b === 0)) {
    throw new ProfileFormatError(`empty input: ${bytes.length === 0 ? "no bytes" : `${bytes.length} zero bytes`}`);
  }
  try {
    walk(bytes, 0, bytes.length, PROFILE);
    const profile = Profile.decode(bytes);
    checkReferences(profile);
    return profile;
  } catch (error) {
    throw new ProfileFormatError(`not a pprof profile (${bytes.length} bytes): ${(error as Error).message}`);
  }
}

/**
 * Fills every empty `build_id` of `bytes`' mappings with what `findBuildId` answers, and
 * re-encodes the profile; samples, locations, functions and every other field keep their values.
 * A mapping whose `build_id` is already set is not shown to `findBuildId`.
 * @throws ProfileFormatError when `bytes` is not a pprof profile, and TypeError when
 *   `findBuildId` answers something other than a hex string, a `{ reason }` or `undefined`.
 */
export async function annotateProfile(bytes: Uint8Array, findBuildId: FindBuildId): Promise<Annotation> {
  const profile = decodeProfile(bytes);
  const strings = profile.stringTable.strings;
  const filled: FilledMapping[] = [];
  const skipped: SkippedMapping[] = [];
  let alreadySet = 0;
  for (const m of profile.mapping) {
    const filename = strings[Number(m.filename)] ?? "";
    if ((strings[Number(m.buildId)] ?? "") !== "") {
      alreadySet++;
      continue;
    }
    const id = BigInt(m.id);
    const answer = await findBuildId({
      id,
      filename,
      memoryStart: BigInt(m.memoryStart),
      memoryLimit: BigInt(m.memoryLimit),
      fileOffset: BigInt(m.fileOffset),
    });
    if (typeof answer === "string") {
      const buildId = answer.toLowerCase();
      if (!HEX.test(buildId))
        throw new TypeError(`build ID for ${JSON.stringify(filename)} is not hex: ${JSON.stringify(answer)}`);
      m.buildId = profile.stringTable.dedup(buildId);
      filled.push({ id, filename, buildId });
    } else if (answer === undefined || typeof answer?.reason === "string") {
      skipped.push({ id, filename, reason: answer?.reason ?? "no build ID found" });
    } else {
      throw new TypeError(`lookup for ${JSON.stringify(filename)} answered ${JSON.stringify(answer)}`);
    }
  }
  return { bytes: profile.encode(), filled, skipped, alreadySet };
}
