/**
 * A byte count for people: `512 B`, `3.5 KiB`, `640.0 MiB`, `1.2 GiB` (binary units, one decimal).
 *
 * @example
 * ```ts
 * formatBytes(cache.stats().memoryBytes); // "1.1 MiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
