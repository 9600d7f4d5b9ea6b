// Seeded randomness for tests: the seed comes from an environment variable (or is drawn) and is printed, so a run can be replayed.

/** The seed in `process.env[variable]`, or a fresh one; printed as `label: VARIABLE=seed`. */
export function seedFrom(variable: string, label: string): number {
  const seed = Number(process.env[variable] ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`${label}: ${variable}=${seed}`);
  return seed;
}

/** mulberry32: a small deterministic generator of floats in [0, 1), so a seed names the same values everywhere. */
export function mulberry32(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A generator of random lowercase-hex IDs of a given byte length, drawing from `next`. */
export function hexIds(next: () => number): (bytes: number) => string {
  return (bytes) =>
    Array.from({ length: bytes }, () =>
      Math.floor(next() * 256)
        .toString(16)
        .padStart(2, "0"),
    ).join("");
}
