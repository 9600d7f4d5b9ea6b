/** The build ID the demo writes for `key` at generation `gen`: 4 bytes, the generation then the key, in hex. */
export function sharedDemoId(key: number, gen: number): string {
  return ((gen & 0xffff) * 0x10000 + (key & 0xffff)).toString(16).padStart(8, "0");
}
