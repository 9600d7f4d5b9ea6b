// The states the crash-test child walks through: state n is a pure function of n, so the parent
// can rebuild any state the child may have saved. No state ever fills the cache (no eviction).

/** Capacity of the child's cache: more than the keys it ever uses. */
export const CRASH_CAPACITY = 128;

/** The key whose build ID is the state's sequence number. */
export const SEQUENCE_KEY = 0n;

interface Writable {
  set(key: bigint, buildId: string): unknown;
  delete(key: bigint): unknown;
}

function mix(n: number): number {
  let x = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The build ID recording sequence number `n`. */
export function sequenceId(n: number): string {
  return n.toString(16).padStart(16, "0");
}

/** Moves state `n - 1` to state `n`: a few sets and deletes over 100 slab-like keys, then the sequence key. */
export function step(target: Writable, n: number): void {
  for (let i = 0; i < 4; i++) {
    const h = mix(n * 4 + i);
    const key = 0xffff_8880_0000_0000n + BigInt(1 + (h % 100)) * 1128n;
    if (h % 10 < 7)
      target.set(
        key,
        h
          .toString(16)
          .padStart(8, "0")
          .repeat(1 + ((h >>> 8) % 5)),
      );
    else target.delete(key);
  }
  target.set(SEQUENCE_KEY, sequenceId(n));
}
