// Build IDs as the debuginfod web API and the index take them: lowercase hex in URLs, hex or bytes in calls.
import { describe } from "../../describe.js";
import { DEFAULT_ELF_LIMITS } from "../../elf.js";
import { parseHexInto } from "../../hex.js";

/** Longest build ID a request or lookup may name, in bytes: the ELF reader's default limit. */
export const MAX_ID_BYTES = DEFAULT_ELF_LIMITS.maxBuildIdLength;

const URL_ID = new RegExp(`^(?:[0-9a-f]{2}){1,${MAX_ID_BYTES}}$`);

/** Whether `s` is a build ID as elfutils' server accepts one in a URL: non-empty, even-length, lowercase hex. */
export function isUrlBuildId(s: string): boolean {
  return URL_ID.test(s);
}

/**
 * Writes `buildId` (hex in either case, or bytes) into `out` when it fits and returns its length in bytes.
 * @throws TypeError for a value that is neither, or hex with an odd length or a non-hex character;
 *   RangeError for an empty ID or one longer than {@link MAX_ID_BYTES}.
 */
export function buildIdBytes(buildId: string | Uint8Array, out: Uint8Array): number {
  const length = typeof buildId === "string" ? buildId.length / 2 : buildId instanceof Uint8Array ? buildId.length : -1;
  if (length < 0) throw new TypeError(`build ID must be a hex string or a Uint8Array, got ${describe(buildId)}`);
  if (length < 1 || length > MAX_ID_BYTES) {
    throw new RangeError(`build ID must be 1 to ${MAX_ID_BYTES} bytes, got ${describe(buildId)}`);
  }
  if (typeof buildId === "string") {
    const scratch = length <= out.length ? out : new Uint8Array(length);
    parseHexInto(buildId, scratch, 0, "build ID");
  } else if (length <= out.length) out.set(buildId);
  return length;
}

const SECTION_NAME = /^[\x21-\x7e]{1,255}$/;

/** Whether `name` can name an ELF section in a request: 1 to 255 printable ASCII characters, no space. */
export function isSectionName(name: string): boolean {
  return SECTION_NAME.test(name) && !name.includes("/");
}
