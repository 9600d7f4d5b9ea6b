// Argument checks for every public function, with one wording per mistake: a value of the wrong
// type is a TypeError, a value of the right type out of range a RangeError, and both messages
// read "NAME must be WHAT, got VALUE" (VALUE as describe() shows it).
import { describe } from "./describe.js";

/** "must be an integer from 1 to 9" or, unbounded above, "must be an integer >= 1". */
function integerWhat(min: number, max: number): string {
  return max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
}

/** `value` as an integer in [min, max]. */
export function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number")
    throw new TypeError(`${name} must be ${integerWhat(min, max)}, got ${describe(value)}`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be ${integerWhat(min, max)}, got ${describe(value)}`);
  }
  return value;
}

/** `value` as a bigint in [0, 2^64). */
export function u64(name: string, value: unknown): bigint {
  if (typeof value !== "bigint") throw new TypeError(`${name} must be a bigint in [0, 2^64), got ${describe(value)}`);
  // One truncation and compare: 2-3 ns less in V8 than `< 0n || > 2n ** 64n - 1n` for keys above 2^63 (kernel addresses).
  if (BigInt.asUintN(64, value) !== value)
    throw new RangeError(`${name} must be a bigint in [0, 2^64), got ${describe(value)}`);
  return value;
}

/** `value` as an instance of `type` (named by its constructor). */
export function instance<T>(name: string, value: unknown, type: abstract new (...args: never[]) => T): T {
  if (!(value instanceof type)) throw new TypeError(`${name} must be a ${type.name}, got ${describe(value)}`);
  return value;
}

/** `value` as a boolean. */
export function bool(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** `value` as a string. */
export function string(name: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${describe(value)}`);
  return value;
}

/** `value` as a function. */
export function func<T extends (...args: never[]) => unknown>(name: string, value: unknown): T {
  if (typeof value !== "function") throw new TypeError(`${name} must be a function, got ${describe(value)}`);
  return value as T;
}

/** `value` as one of `choices`. */
export function oneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    const list = choices.map((c) => JSON.stringify(c)).join(", ");
    const error = typeof value === "string" ? RangeError : TypeError;
    throw new error(`${name} must be one of ${list}, got ${describe(value)}`);
  }
  return value as T;
}

/** Checks that `array` has room for `needed` elements. */
export function room(name: string, array: ArrayLike<unknown>, needed: number): void {
  if (array.length < needed) throw new RangeError(`${name} has room for ${array.length} values, needs ${needed}`);
}
