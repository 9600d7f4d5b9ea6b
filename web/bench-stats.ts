// The benchmark's statistics: a row's figures from the rounds' slices, how precise they are, and when a run has played enough.

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A row's figures from both sides' turns of the same rounds: {@link pairedMedian}. */
export interface Paired {
  cacheNs: number;
  mapNs: number;
  ratio: number;
}

/**
 * A row's figures from both sides' slices of the same rounds (`cache[r]`, `map[r]`: round r's slices, ns per operation):
 * each side's median slice of each round; the ratio the median over the rounds of each round's Map ÷ cache, each side's
 * figure the median of its rounds'. What moves a figure here is the part of the last-level cache the host leaves this
 * machine, from minute to minute: the `Map`'s side follows it and the cache's much less, so each round's two turns,
 * back to back, are taken in the same state and divided before the median. A slice's fastest round took a figure
 * from the rare moment with much of that cache free: in a Node mirror of the page at 65,536 keys, 5 of 589 ticks gave
 * 95% of the `Map`'s batched slice minima, and the ratio so taken moved ±28.4% over six 3-minute windows, the paired
 * median ±5.8% (hits ±6.1% and ±5.9%). The median slice, not the whole turn: a slice another program stretched is at
 * one end of its turn's.
 */
export function pairedMedian(cache: readonly (readonly number[])[], map: readonly (readonly number[])[]): Paired {
  if (cache.length !== map.length || cache.length === 0) {
    throw new RangeError(`both sides need the same rounds, at least one: ${cache.length} and ${map.length}`);
  }
  const c = cache.map(median);
  const m = map.map(median);
  return { cacheNs: median(c), mapNs: median(m), ratio: median(m.map((ns, r) => ns / c[r]!)) };
}

/** Each round's Map ÷ cache over every build, from `cache[b][r]` and `map[b][r]`: build b's median slice in round r. */
export function roundRatios(cache: readonly (readonly number[])[], map: readonly (readonly number[])[]): number[] {
  return cache.flatMap((rounds, b) => rounds.map((ns, r) => map[b]![r]! / ns));
}

/** How sure {@link medianInterval} is that the median of what the rounds are drawn from lies in it. */
export const CONFIDENCE = 0.95;
/** The standard normal quantile at (1 + {@link CONFIDENCE}) / 2. */
const Z = 1.959964;

/**
 * A {@link CONFIDENCE} interval of the median of `values`, by order statistics: the count of values below the median
 * is binomial (n, 1/2), so the j-th and k-th smallest, j and k at n/2 ∓ Z·√n/2 (the normal approximation), bracket it
 * whatever the values' distribution. Fewer than 6 values bracket nothing narrower than their range.
 */
export function medianInterval(values: readonly number[]): [number, number] {
  const sorted = values.toSorted((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [Number.NaN, Number.NaN];
  const reach = (Z * Math.sqrt(n)) / 2;
  const j = Math.max(0, Math.floor(n / 2 - reach));
  const k = Math.min(n - 1, Math.ceil(n / 2 + reach) - 1);
  return [sorted[j]!, sorted[k]!];
}

/** How far `[low, high]` reaches from `mid`, the further side, relative to `mid`: a row's ± on the page. */
export const reachOf = ([low, high]: readonly number[], mid: number) => Math.max(mid - low!, high! - mid) / mid;

/**
 * A run's stopping rule: it plays {@link ROUNDS}, then {@link MORE_ROUNDS} at a time until every row's ratio is known
 * within {@link PRECISION} ({@link medianInterval} of the rounds' Map ÷ cache, reaching no further than that from the
 * median), or until its rounds have lasted {@link TIME_LIMIT_MS}, or {@link ROUND_LIMIT} times its first; the page says how
 * precise each row came out. A rule that can be met: each round's Map ÷ cache moves ±23-70% at random from round to
 * round, so the interval narrows as 1/√rounds and a row at ±25% needs about 150 rounds, one at ±45% about 500; the
 * rule it replaces waited for two halves of 100 rounds within 4% of each other, which rounds that vary so much rarely
 * give (in 9 quiet runs, never), so every run played its 400.
 */
export const ROUNDS = 100;
export const MORE_ROUNDS = 20;
export const PRECISION = 0.05;
export const TIME_LIMIT_MS = 90_000;
export const ROUND_LIMIT = 4;

/** Whether a run of `first` rounds first, having played `played` in `elapsedMs`, its rows' ratios known within `reaches`, plays more. */
export function playsMore(played: number, elapsedMs: number, reaches: readonly number[], first = ROUNDS): boolean {
  if (played < first) return true;
  if (played >= ROUND_LIMIT * first || elapsedMs >= TIME_LIMIT_MS) return false;
  return reaches.some((reach) => !(reach <= PRECISION));
}
