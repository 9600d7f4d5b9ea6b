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

function decode(bytes: Uint8Array): Profile {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    throw new ProfileFormatError("the profile is gzip-compressed: gunzip it before annotating");
  }
  try {
    return Profile.decode(bytes);
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
  const profile = decode(bytes);
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
