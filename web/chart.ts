// A grouped horizontal bar chart as inline SVG: one group per category, one bar per series.

const SVG = "http://www.w3.org/2000/svg";

/** One group of bars: a category label and one value per series (same order as the series). */
export interface BarGroup {
  label: string;
  values: number[];
}

/** Sizes in SVG user units; the chart scales to its container through its viewBox. */
const LABEL_WIDTH = 190;
const PLOT_WIDTH = 330;
const VALUE_WIDTH = 80;
const BAR_HEIGHT = 18;
const BAR_GAP = 3;
const GROUP_GAP = 16;
const LEGEND_HEIGHT = 30;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draws `groups` as bars scaled to the largest value, each labelled with `format(value)`.
 * Series `i` gets the class `series-i` (colours come from the stylesheet) and a legend entry.
 */
export function barChart(
  groups: BarGroup[],
  series: string[],
  format: (value: number) => string,
  title: string,
): SVGSVGElement {
  const max = Math.max(...groups.flatMap((group) => group.values), Number.MIN_VALUE);
  const groupHeight = series.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP;
  const width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
  const height = LEGEND_HEIGHT + groups.length * (groupHeight + GROUP_GAP);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart" });
  chart.append(svg("title", {}, title));

  series.forEach((name, i) => {
    const x = LABEL_WIDTH + i * 150;
    chart.append(svg("rect", { x, y: 4, width: 14, height: 14, class: `series-${i}` }));
    chart.append(svg("text", { x: x + 20, y: 16, class: "legend" }, name));
  });

  groups.forEach((group, g) => {
    const top = LEGEND_HEIGHT + g * (groupHeight + GROUP_GAP);
    chart.append(svg("text", { x: LABEL_WIDTH - 10, y: top + groupHeight / 2 + 5, class: "category" }, group.label));
    group.values.forEach((value, i) => {
      const y = top + i * (BAR_HEIGHT + BAR_GAP);
      const barWidth = Math.max(1, (value / max) * PLOT_WIDTH);
      const bar = svg("rect", { x: LABEL_WIDTH, y, width: barWidth, height: BAR_HEIGHT, class: `series-${i}` });
      bar.append(svg("title", {}, `${group.label}, ${series[i]}: ${format(value)}`));
      chart.append(bar);
      chart.append(
        svg("text", { x: LABEL_WIDTH + barWidth + 6, y: y + BAR_HEIGHT - 5, class: "value" }, format(value)),
      );
    });
  });
  return chart;
}
