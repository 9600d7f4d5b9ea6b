// Small DOM helpers the page's sections share.

/** The element matching `selector`; the page's HTML has every one the sections ask for. */
export function element<T extends Element>(selector: string): T {
  const found = document.querySelector<T>(selector);
  if (!found) throw new Error(`the page has no ${selector}`);
  return found;
}

/** A new element with `text` and `className`. */
export function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text = "",
  className = "",
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = text;
  if (className) node.className = className;
  return node;
}

/**
 * Appends a cell to `row`, labelled with its column's heading (`data-label`), which narrow
 * screens show beside the value when a table's rows stack.
 */
export function cell(row: HTMLTableRowElement, text: string, className = ""): HTMLTableCellElement {
  const heading = row.closest("table")?.tHead?.rows[0]?.cells[row.cells.length]?.textContent;
  const td = row.insertCell();
  td.textContent = text;
  td.className = className;
  if (heading) td.dataset.label = heading;
  return td;
}

/** `count` and `noun`, plural unless the count is one: "1 file", "2,048 files". */
export function plural(count: number, noun: string): string {
  return `${count.toLocaleString("en")} ${noun}${count === 1 ? "" : "s"}`;
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
