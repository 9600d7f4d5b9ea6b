// The formatter every benchmark section shares: figures, aligned terminal tables, Markdown
// tables, and horizontal bar panels for self-contained SVG charts.
import type { Spread } from "./results.js";

/** ns with three significant digits. */
export function ns(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A ratio as `12x` or `1.3x`. */
export function times(value: number): string {
  return value >= 10 ? `${value.toFixed(0)}x` : `${value.toFixed(1)}x`;
}

/** A ratio with its spread: `1.26x [1.20..1.31]`. */
export function ratioSpread(s: Spread): string {
  return `${s.median.toFixed(2)}x [${s.min.toFixed(2)}..${s.max.toFixed(2)}]`;
}

/** An integer with thousands separators. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** A Markdown code span, so `Map<bigint, ...>` is not read as an HTML tag. */
export function code(s: string): string {
  return `\`${s}\``;
}

/** Column alignment: left or right. */
export type Align = "l" | "r";

/** A table before rendering: the header, the rows, and each column's alignment. */
export interface Block {
  head: string[];
  body: string[][];
  align: Align[];
}

/** A {@link Block} of `rows` (numbers as `String` gives them), its first `left` columns left-aligned, the rest right. */
export function block(head: string[], rows: (string | number)[][], left = 1): Block {
  return { head, body: rows.map((r) => r.map(String)), align: head.map((_, i) => (i < left ? "l" : "r")) };
}

/** An aligned plain-text table, columns two spaces apart, a dashed rule under the header. */
export function table({ head, body, align }: Block): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === "r" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** A Markdown table; cells holding `<` become code spans. */
export function markdownTable({ head, body, align }: Block): string {
  const bar = align.map((a) => (a === "l" ? "---" : "---:"));
  const cell = (s: string) => (s.includes("<") && !s.startsWith("`") ? code(s) : s);
  return [head.map(cell), bar, ...body.map((r) => r.map(cell))].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** Text safe inside SVG markup. */
function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One bar: its value, its colour and the name the legend and tooltip give it. */
export interface Bar {
  name: string;
  value: number;
  color: string;
}

/** Bars drawn together under one label. */
export interface BarGroup {
  label: string;
  bars: Bar[];
}

/** SVG markup and the height it takes. */
export interface Panel {
  svg: string;
  height: number;
}

/**
 * A titled panel of horizontal bar groups at `y`, on a log10 axis (or linear), each bar labelled
 * with `format(value)`, then a legend of the bar names.
 */
export function barPanel(
  title: string,
  groups: BarGroup[],
  y: number,
  format: (v: number) => string,
  scale: "log" | "linear" = "log",
): Panel {
  const left = 210;
  const width = 600;
  const bar = 11;
  const values = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => v > 0);
  // One decade of headroom below the smallest value, so no bar is drawn with zero length.
  const lo = scale === "log" ? Math.floor(Math.log10(Math.min(...values))) - 1 : 0;
  const hi = scale === "log" ? Math.ceil(Math.log10(Math.max(...values))) : Math.max(...values);
  const x = (v: number) =>
    left + (scale === "log" ? (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo) : v / hi) * width;
  const parts = [`<text x="10" y="${y + 16}" font-size="13" font-weight="bold">${escapeXml(title)}</text>`];
  let top = y + 40;
  const bottom = top + groups.reduce((h, g) => h + g.bars.length * bar + 10, 0);
  if (scale === "log") {
    for (let p = lo; p <= hi; p++) {
      parts.push(`<line x1="${x(10 ** p)}" x2="${x(10 ** p)}" y1="${top}" y2="${bottom}" stroke="#ddd"/>`);
      parts.push(`<text x="${x(10 ** p)}" y="${top - 4}" font-size="10" text-anchor="middle">1e${p}</text>`);
    }
  }
  for (const g of groups) {
    const mid = top + (g.bars.length * bar) / 2 + 4;
    parts.push(`<text x="${left - 6}" y="${mid}" text-anchor="end" font-size="11">${escapeXml(g.label)}</text>`);
    for (const b of g.bars) {
      const end = x(b.value);
      parts.push(
        `<rect x="${left}" y="${top}" width="${Math.max(1, end - left).toFixed(1)}" height="${bar - 2}" fill="${b.color}"><title>${escapeXml(`${b.name}: ${format(b.value)}`)}</title></rect>`,
        `<text x="${(end + 4).toFixed(1)}" y="${top + bar - 3}" font-size="9">${escapeXml(format(b.value))}</text>`,
      );
      top += bar;
    }
    top += 10;
  }
  const names = new Map(groups.flatMap((g) => g.bars.map((b) => [b.name, b.color] as const)));
  [...names].forEach(([name, color], i) => {
    const lx = 10 + (i % 3) * 310;
    const ly = top + 4 + Math.floor(i / 3) * 14;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${color}"/>`,
      `<text x="${lx + 14}" y="${ly + 9}" font-size="11">${escapeXml(name)}</text>`,
    );
  });
  return { svg: parts.join("\n"), height: top + 10 + Math.ceil(names.size / 3) * 14 - y };
}

/** A self-contained SVG document of `panels` stacked from the top, under an optional subtitle line. */
export function svgDocument(subtitle: string, panels: ((y: number) => Panel)[]): string {
  const width = 960;
  const body = [`<text x="10" y="14" font-size="11" fill="#555">${escapeXml(subtitle)}</text>`];
  let y = 20;
  for (const draw of panels) {
    const p = draw(y);
    body.push(p.svg);
    y += p.height + 16;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body.join("\n")}\n</svg>\n`;
}
