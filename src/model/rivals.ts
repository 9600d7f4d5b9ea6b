/**
 * The designs Viro argued against, each a pointer to a `struct build_id` in a kernel object:
 * PATCHv3's in every `struct file`, RFC v2's (with a spinlock) in every `struct inode`.
 * @module
 */
import { ModelBase, type ModelOptions, newCounters } from "./base.js";
import { BUILD_ID_STRUCT_BYTES, FILE_POINTER_BYTES, INODE_FIELDS_BYTES } from "./costs.js";
import { grow } from "./grow.js";

/** `struct build_id` objects of {@link BUILD_ID_STRUCT_BYTES} bytes from their own slab: u32 size, then the ID. */
class BuildIdStructs {
  #bytes = new Uint8Array(0);
  #free: number[] = [];
  #count = 0;
  live = 0;

  alloc(id: Uint8Array): number {
    const ref = this.#free.pop() ?? this.#count++;
    this.#bytes = grow(this.#bytes, (ref + 1) * BUILD_ID_STRUCT_BYTES);
    this.write(ref, id);
    this.live++;
    return ref;
  }

  write(ref: number, id: Uint8Array): void {
    const at = ref * BUILD_ID_STRUCT_BYTES;
    this.#bytes[at] = id.length;
    this.#bytes.set(id, at + 4);
  }

  read(ref: number, out: Uint8Array, offset: number): number {
    const at = ref * BUILD_ID_STRUCT_BYTES;
    const length = this.#bytes[at]!;
    for (let i = 0; i < length; i++) out[offset + i] = this.#bytes[at + 4 + i]!;
    return length;
  }

  release(ref: number): void {
    this.#free.push(ref);
    this.live--;
  }
}

const NULL = -1;

/**
 * PATCHv3: every `struct file` carries a build-ID pointer ({@link FILE_POINTER_BYTES} B), set when
 * the file is mapped executable to a `struct build_id` freed on close. Files of one inode each
 * hold their own copy; files never mapped still pay for the pointer.
 */
export class PointerPerFileModel extends ModelBase {
  readonly design = "pointer-per-file" as const;
  #pointer = new Int32Array(0); // f_build_id of every file
  #structs = new BuildIdStructs();

  /** @throws TypeError or RangeError naming a bad slab option. */
  constructor(options: ModelOptions = {}) {
    super(options, newCounters());
  }

  /** Pointers in open files plus live `struct build_id`s. */
  override memoryBytes(): number {
    return this.openCount * FILE_POINTER_BYTES + this.#structs.live * BUILD_ID_STRUCT_BYTES;
  }

  protected override onAllocate(): void {}

  protected override onOpen(file: number, files: number): void {
    this.#pointer = grow(this.#pointer, files);
    this.#pointer[file] = NULL;
  }

  protected override onClose(file: number): void {
    const ref = this.#pointer[file]!;
    if (ref !== NULL) this.#structs.release(ref);
    this.#pointer[file] = NULL;
  }

  protected override onAttach(file: number, _inode: number, id: Uint8Array): void {
    const ref = this.#pointer[file]!;
    if (ref === NULL) this.#pointer[file] = this.#structs.alloc(id);
    else this.#structs.write(ref, id);
  }

  protected override onLookup(file: number, _inode: number, out: Uint8Array, offset: number): number {
    const ref = this.#pointer[file]!;
    return ref === NULL ? 0 : this.#structs.read(ref, out, offset);
  }

  protected override onEvict(): void {}

  protected override cachedInodes(mappedInodes: number): number {
    return mappedInodes;
  }
}

/**
 * RFC v2: every `struct inode` carries a build-ID pointer and a spinlock
 * ({@link INODE_FIELDS_BYTES} B with padding); the `struct build_id` is set at the first
 * executable mapping and freed at eviction. Inodes never mapped still pay for both fields.
 * The lock is charged ({@link INODE_LOCK_BYTES} B) but never taken: the model runs on one thread.
 */
export class PointerPerInodeModel extends ModelBase {
  readonly design = "pointer-per-inode" as const;
  #pointer = new Int32Array(0); // i_build_id of every inode
  #structs = new BuildIdStructs();

  /** @throws TypeError or RangeError naming a bad slab option. */
  constructor(options: ModelOptions = {}) {
    super(options, newCounters());
  }

  /** Pointer and lock ({@link INODE_FIELDS_BYTES} B) in every allocated inode plus live `struct build_id`s. */
  override memoryBytes(): number {
    return this.slab.live * INODE_FIELDS_BYTES + this.#structs.live * BUILD_ID_STRUCT_BYTES;
  }

  protected override onAllocate(inode: number, handles: number): void {
    this.#pointer = grow(this.#pointer, handles);
    this.#pointer[inode] = NULL;
  }

  protected override onAttach(_file: number, inode: number, id: Uint8Array): void {
    const ref = this.#pointer[inode]!;
    if (ref === NULL) this.#pointer[inode] = this.#structs.alloc(id);
    else this.#structs.write(ref, id);
  }

  protected override onLookup(_file: number, inode: number, out: Uint8Array, offset: number): number {
    const ref = this.#pointer[inode]!;
    return ref === NULL ? 0 : this.#structs.read(ref, out, offset);
  }

  protected override onEvict(inode: number): void {
    const ref = this.#pointer[inode]!;
    if (ref !== NULL) this.#structs.release(ref);
    this.#pointer[inode] = NULL;
  }

  protected override cachedInodes(): number {
    return this.#structs.live;
  }
}
