const utf8 = new TextDecoder();

/** The NUL-terminated string in `bytes[start, end)` (all of it when there is no NUL), decoded as UTF-8. */
export function decodeString(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  let ascii = true;
  while (stop < end && bytes[stop] !== 0) {
    if (bytes[stop]! > 0x7f) ascii = false;
    stop++;
  }
  if (ascii && stop - start <= 64)
    return String.fromCharCode.apply(null, bytes.subarray(start, stop) as unknown as number[]);
  return utf8.decode(bytes.subarray(start, stop));
}
