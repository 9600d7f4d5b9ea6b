// A dropped pprof profile: gunzip if needed, fill the mappings' build IDs, gzip the result again.
import { Profile } from "pprof-format";
import { type Annotation, annotateProfile, type FindBuildId, isGzip } from "../src/index.js";

/** One mapping of the annotated profile, for the page's table. */
export interface MappingRow {
  filename: string;
  memoryStart: bigint;
  memoryLimit: bigint;
  buildId: string;
  /** What happened to it: filled now, already set in the profile, or why it has no build ID. */
  result: { kind: "filled" } | { kind: "already-set" } | { kind: "skipped"; reason: string };
}

/** An annotated profile, ready to download. */
export interface AnnotatedProfile {
  annotation: Annotation;
  mappings: MappingRow[];
  /** The annotated profile, gzipped again when the input was. */
  download: Blob;
  downloadName: string;
}

/**
 * Reads `file` (a pprof profile, gzipped or not), fills empty mapping build IDs with `findBuildId`
 * and lists every mapping of the result.
 * @throws ProfileFormatError when the (gunzipped) bytes are not a profile; TypeError for corrupt gzip.
 */
export async function annotateFile(file: File, findBuildId: FindBuildId): Promise<AnnotatedProfile> {
  const gzipped = isGzip(new Uint8Array(await file.slice(0, 2).arrayBuffer()));
  const raw = gzipped ? new Response(file.stream().pipeThrough(new DecompressionStream("gzip"))) : file;
  const annotation = await annotateProfile(new Uint8Array(await raw.arrayBuffer()), findBuildId);

  const filled = new Set(annotation.filled.map((mapping) => mapping.id));
  const skipped = new Map(annotation.skipped.map((mapping) => [mapping.id, mapping.reason]));
  const profile = Profile.decode(annotation.bytes);
  const strings = profile.stringTable.strings;
  const mappings = profile.mapping.map((mapping): MappingRow => {
    const id = BigInt(mapping.id);
    const reason = skipped.get(id);
    return {
      filename: strings[Number(mapping.filename)] ?? "",
      memoryStart: BigInt(mapping.memoryStart),
      memoryLimit: BigInt(mapping.memoryLimit),
      buildId: strings[Number(mapping.buildId)] ?? "",
      result: filled.has(id)
        ? { kind: "filled" }
        : reason === undefined
          ? { kind: "already-set" }
          : { kind: "skipped", reason },
    };
  });

  // Profile.encode() returns a view of a plain ArrayBuffer, which a Blob takes.
  const encoded = new Blob([annotation.bytes as Uint8Array<ArrayBuffer>]);
  const download = gzipped
    ? await new Response(encoded.stream().pipeThrough(new CompressionStream("gzip"))).blob()
    : encoded;
  const stem = file.name.replace(/(\.pb)?(\.gz)?$/, "");
  return {
    annotation,
    mappings,
    download,
    downloadName: `${stem}.annotated.pb${gzipped ? ".gz" : ""}`,
  };
}
