/** `array` if it holds `length` elements, else a copy at least twice as long. */
export function grow<T extends Int32Array | Uint8Array | Uint32Array | BigUint64Array>(array: T, length: number): T {
  if (length <= array.length) return array;
  const bigger = new (array.constructor as new (n: number) => T)(Math.max(length, array.length * 2));
  bigger.set(array as never);
  return bigger;
}
