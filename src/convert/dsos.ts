/**
 * perf's list of dsos, as `perf buildid-list` builds and prints it (perf 6.1: `util/dsos.c`,
 * `util/header.c` `__event_process_build_id`, `util/map.c` `map__new`, `util/machine.c`): one list per
 * machine in the order dsos were made, each with a long name, a `dso_id` (device, inode, generation; or
 * the build ID's bytes for an MMAP2 in build-ID form), a build ID and a hit bit.
 *
 * - A build-ID table entry finds its dso by name (or makes it) and sets its build ID; a kernel-mode
 *   entry marks it the kernel's.
 * - A map finds a dso by name and id, an empty id on either side matching any (an empty one found is
 *   given the map's id); a map of the kernel's text takes the first kernel dso that is not a module; a
 *   `[vdso]` map takes the dso named `[vdso]`. A map with a build ID sets it; one without takes the
 *   build ID of the table's dso of that name (perf's `header_build_id`).
 *
 * The one departure: perf names a vdso it meets only in the records after a temporary copy of its own
 * vdso (`/tmp/perf-vdso.so-XXXXXX`); here it is `[vdso]`, the name the table and `perf report` use.
 *
 * @module
 */
import { KERNEL_NAME } from "./feed.js";

/** A dso as perf keeps it. */
export interface Dso {
  /** Its long name, as `buildid-list` prints it. */
  readonly name: string;
  /** Its `dso_id` as a string ("" when empty: MMAP records, the table, pseudo files). */
  id: string;
  /** Its build ID as lowercase hex, "" when it has none. */
  buildId: string;
  /** It got its build ID from the build-ID table. */
  fromTable: boolean;
  /** It is the kernel's (or a module's). */
  kernel: boolean;
  /** A sample's IP fell in one of its maps. */
  hit: boolean;
}

/** The vdso's name. */
export const VDSO_NAME = "[vdso]";

/** perf's `is_kernel_module` for a name: `[module]` or a `.ko` file, compressed or not. */
function isModule(name: string): boolean {
  return (name.startsWith("[") && name !== KERNEL_NAME && !name.startsWith(VDSO_NAME)) || /\.ko(\.\w+)?$/.test(name);
}

/** One machine's dsos, in the order perf made them. */
export class DsoList {
  /** The dsos, oldest first. */
  readonly list: Dso[] = [];

  #add(name: string, id: string): Dso {
    const dso: Dso = { name, id, buildId: "", fromTable: false, kernel: false, hit: false };
    this.list.push(dso);
    return dso;
  }

  /** The first dso named `name`. */
  byName(name: string): Dso | undefined {
    for (const d of this.list) if (d.name === name) return d;
    return undefined;
  }

  /** perf's `dsos__findnew_id`: by name and id (empty matching any), made when none matches. */
  findnew(name: string, id: string): Dso {
    for (const d of this.list) {
      if (d.name !== name || (d.id !== "" && id !== "" && d.id !== id)) continue;
      if (d.id === "" && id !== "") d.id = id;
      return d;
    }
    return this.#add(name, id);
  }

  /** A build-ID table entry (`kernel`: its cpumode is the kernel's). */
  table(name: string, buildId: string, kernel: boolean): void {
    const dso = this.findnew(name, "");
    dso.buildId = buildId;
    dso.fromTable = true;
    if (kernel) dso.kernel = true;
  }

  /** The dso of a map of the kernel: its text (`[kernel.kallsyms]...`) or a module. */
  kernelMap(path: string, buildId: string): Dso {
    let dso: Dso | undefined;
    if (path.startsWith(KERNEL_NAME)) {
      dso = this.list.find((d) => d.kernel && !isModule(d.name)) ?? this.findnew(KERNEL_NAME, "");
    } else dso = this.findnew(path, "");
    dso.kernel = true;
    if (buildId !== "") dso.buildId = buildId;
    return dso;
  }

  /** The dso of a user map of `name` with `id` ("" for none) and the build ID its record carries ("" for none). */
  userMap(name: string, id: string, buildId: string): Dso {
    const vdso = name === VDSO_NAME;
    const dso = vdso ? (this.byName(VDSO_NAME) ?? this.#add(VDSO_NAME, "")) : this.findnew(name, id);
    // perf's map__new takes an MMAP2's build ID for the vdso too (`--buildid-mmap`)
    if (buildId !== "") dso.buildId = buildId;
    else if (!vdso) {
      const header = this.byName(name);
      if (header?.fromTable) {
        dso.buildId = header.buildId;
        dso.fromTable = true;
      }
    }
    return dso;
  }
}

/** `perf buildid-list`'s line for a dso: the build ID padded to 40 columns, a space, the name. */
export function buildIdLine(dso: Dso): string {
  return `${dso.buildId.padEnd(40)} ${dso.name}`;
}
