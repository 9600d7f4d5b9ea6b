/**
 * The census as a plain-text report: one aligned label and value column across every section.
 *
 * @packageDocumentation
 */
import { formatBytes } from "../format.js";
import { BUILD_ID_MAX } from "../layout.js";
import type { Census } from "./census.js";

// Made on first use: creating it loads ICU's number data (about 20 ms), which no other command needs.
let int: Intl.NumberFormat | undefined;

function n(value: number | null | undefined): string {
  if (value === null || value === undefined) return "n/a";
  int ??= new Intl.NumberFormat("en-US");
  return int.format(value);
}

type Row = [label: string, value: string, note?: string];

// One label column and one value column across every section, so the whole report lines up.
function layout(sections: [title: string, rows: Row[], footer?: string][]): string[] {
  const rows = sections.flatMap(([, r]) => r);
  const labelWidth = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = Math.max(...rows.map((r) => r[1].length));
  return sections.flatMap(([title, section, footer]) => [
    "",
    title,
    ...section.map(([label, value, note]) =>
      `  ${label.padEnd(labelWidth)}  ${value.padStart(valueWidth)}${note ? `  ${note}` : ""}`.trimEnd(),
    ),
    ...(footer ? [`  ${footer}`] : []),
  ]);
}

/** The census as an aligned plain-text report. */
export function formatCensus(c: Census): string {
  const k = c.kernel;
  const slabNote = k.inodeSlabs
    ? `in ${k.inodeSlabs.filter((s) => s.activeObjects > 0).length} caches: ${k.inodeSlabs
        .slice(0, 3)
        .map((s) => `${s.name} ${n(s.activeObjects)}`)
        .join(", ")}`
    : "(slabinfo not readable: run as root)";
  const elfPerFile = c.files.elf > 0 && k.fileNr ? (k.fileNr.allocated / c.files.elf).toFixed(1) : "n/a";
  const be = c.breakEven;
  const breakEvenNote =
    `break-even: a pointer per file ${be.files === 0 ? "is never cheaper here" : `is cheaper below ${n(be.files)} open files`}; the side hash ` +
    (be.elfInodesVsPerInode === null
      ? "stays smaller than a pointer per inode even if every inode were ELF"
      : `outgrows a pointer per inode at ${n(be.elfInodesVsPerInode)} ELF inodes`);
  const lines = [
    `buildid-cache census: Linux ${k.release ?? "?"}, ${c.takenAt}, ${n(c.durationMs)} ms`,
    ...layout([
      [
        "Kernel objects",
        [
          ["struct file instances (file-nr)", n(k.fileNr?.allocated), k.fileNr ? `max ${n(k.fileNr.max)}` : ""],
          [
            "filp slab objects (slabinfo)",
            n(k.filpSlab?.activeObjects),
            k.filpSlab
              ? `of ${n(k.filpSlab.objects)} allocated, ${k.filpSlab.objectSize} B each`
              : "(slabinfo not readable)",
          ],
          ["inodes in memory (inode-nr)", n(k.inodeNr?.inodes), k.inodeNr ? `${n(k.inodeNr.unused)} unused` : ""],
          ["inode slab objects (slabinfo)", n(k.inodeSlabObjects), slabNote],
        ],
      ],
      [
        "Processes and mappings",
        [
          [
            "processes scanned",
            n(c.processes.scanned),
            `of ${n(c.processes.listed)}: ${n(c.processes.withoutMappings)} without mappings, ${n(c.processes.exited)} exited, ${n(c.processes.denied)} denied` +
              (c.processes.changing > 0 ? `, ${n(c.processes.changing)} changing their mappings while read` : ""),
          ],
          ["mappings", n(c.mappings.total), `${n(c.mappings.anonymous)} anonymous, ${n(c.mappings.pseudo)} [named]`],
          ["file mappings", n(c.mappings.file), `${n(c.mappings.executableFile)} executable`],
          ["distinct mmapped files", n(c.files.mapped), `${n(c.files.executable)} mapped executable`],
          [
            "distinct mmapped ELF objects",
            n(c.files.elf),
            `${n(c.files.notElf)} other files, ${n(c.files.unreadable)} unreadable`,
          ],
          [
            "  with a build ID",
            n(c.files.withBuildId),
            `${n(c.files.withoutBuildId)} without, ${n(c.files.malformedElf)} malformed, ${n(c.files.longBuildId)} longer than ${BUILD_ID_MAX} bytes`,
          ],
          ["struct files per mmapped ELF object", elfPerFile],
        ],
      ],
      [
        "Memory each design would add on this machine",
        c.designs.map((d): Row => [d.label, formatBytes(d.bytes), d.perObject]),
        breakEvenNote,
      ],
      [
        `Build-ID cache (capacity ${n(c.cache.capacity)}, ${formatBytes(c.cache.memoryBytes)} of wasm memory)`,
        [
          [
            "files read",
            n(c.resolver.reads),
            `${n(c.files.withBuildId - c.files.longBuildId)} build IDs inserted, ${n(c.files.longBuildId)} kept beside the cache`,
          ],
          [
            "profiler pass: exec mappings",
            n(c.profilerPass.addresses),
            `${n(c.profilerPass.resolved)} resolved, ${n(c.profilerPass.fromCache)} from the cache`,
          ],
          ["entries", n(c.cache.size), `${n(c.resolver.negativeEntries)} negative entries beside them`],
          ["inserts / updates", `${n(c.cache.inserts)} / ${n(c.cache.updates)}`],
          ["hits / misses", `${n(c.cache.hits)} / ${n(c.cache.misses)}`],
          ["evictions", n(c.cache.evictions)],
          ["probe length mean / max", `${c.cache.probeMean.toFixed(2)} / ${c.cache.probeMax}`],
        ],
      ],
    ]),
  ];
  return `${lines.join("\n")}\n`;
}
