// The model's checkers made to fire: verify() on deliberately corrupted models, ModelStateError
// on bad handles, and every argument check with its message.
import { describe, expect, test } from "vitest";
import {
  createModel,
  type DesignName,
  ModelInvariantError,
  ModelStateError,
  middleBitsHome,
  multiplicativeHome,
  PointerPerFileModel,
  probeLengths,
  S_BUILD_ID,
  SlabCache,
  StolenBitModel,
  sideHashBytes,
  sideHashSlots,
} from "../../src/model/index.js";

const ID = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

/** A model with two inodes; the first mapped with {@link ID}, so its entry and bit agree. */
async function mapped() {
  const model = await StolenBitModel.create({ capacity: 8 });
  const inode = model.allocate();
  const other = model.allocate();
  const file = model.open(inode);
  model.attach(file, ID);
  model.verify();
  return { model, inode, other, file };
}

describe("StolenBitModel.verify fires on each broken invariant", () => {
  test("entry without its bit: the flags word lost S_BUILD_ID behind the model's back", async () => {
    const { model, inode } = await mapped();
    StolenBitModel.exposeInternals(model).flags[inode]! &= ~S_BUILD_ID;
    const address = model.addressOf(inode).toString(16);
    expect(() => model.verify()).toThrow(
      new ModelInvariantError(`entry without its bit: side hash holds 0x${address} but inode ${inode}'s bit is clear`),
    );
    model.dispose();
  });

  test("entry without its bit: an entry for an inode never attached", async () => {
    const { model, other } = await mapped();
    model.cache.set(model.addressOf(other), ID);
    expect(() => model.verify()).toThrow(ModelInvariantError);
    expect(() => model.verify()).toThrow(/^entry without its bit: .* inode 1's bit is clear$/);
    model.dispose();
  });

  test("entry without an inode: a key that is no allocated inode's address", async () => {
    const { model } = await mapped();
    model.cache.set(0x1234n, ID);
    expect(() => model.verify()).toThrow(
      new ModelInvariantError("entry without an inode: side hash holds 0x1234, not an allocated inode"),
    );
    model.dispose();
  });

  test("entry without an inode: the slab object freed under a live entry", async () => {
    const { model, inode, file } = await mapped();
    model.close(file);
    const address = model.addressOf(inode).toString(16);
    model.slab.free(inode); // bypasses the model's free(), so no eviction hook runs
    expect(() => model.verify()).toThrow(
      new ModelInvariantError(`entry without an inode: side hash holds 0x${address}, not an allocated inode`),
    );
    model.dispose();
  });

  test("exposeInternals sees the flags array the model uses, even after it grows", async () => {
    const { model, inode } = await mapped();
    for (let i = 0; i < 100; i++) model.allocate();
    expect(StolenBitModel.exposeInternals(model).flags[inode]).toBe(S_BUILD_ID);
    model.dispose();
  });
});

describe("ModelStateError on bad handles", () => {
  test("a slab address for a handle never handed out", () => {
    const slab = new SlabCache();
    slab.allocate();
    expect(() => slab.address(14)).toThrow(
      new ModelStateError("object 14 is not a handle of this slab cache (0 to 13)"),
    );
    expect(() => slab.address(-1)).toThrow(ModelStateError);
    expect(() => slab.address(0.5)).toThrow(ModelStateError);
  });

  test("a lookup or attach through a closed file, a free of a freed inode", () => {
    const model = new PointerPerFileModel();
    const inode = model.allocate();
    const file = model.open(inode);
    model.close(file);
    expect(() => model.attach(file, ID)).toThrow(new ModelStateError(`file ${file} is not open`));
    expect(() => model.inodeOf(file)).toThrow(new ModelStateError(`file ${file} is not open`));
    model.free(inode);
    expect(() => model.free(inode)).toThrow(new ModelStateError(`inode ${inode} is not allocated`));
    expect(model.counters).toMatchObject({ attaches: 0, frees: 1 });
  });
});

describe("argument checks, one wording", () => {
  test("lookupInto: out must be a Uint8Array with room for a build ID at offset", async () => {
    const model = new PointerPerFileModel();
    const file = model.open(model.allocate());
    model.attach(file, ID);
    expect(() => model.lookupInto(file, [] as unknown as Uint8Array)).toThrow(
      new TypeError("out must be a Uint8Array, got [object Array]"),
    );
    expect(() => model.lookupInto(file, new Uint8Array(20), 1)).toThrow(
      new RangeError("offset 1 leaves no room for 20 bytes in out of length 20"),
    );
    expect(model.counters.lookups).toBe(0);
  });

  test("createModel names a bad design", async () => {
    await expect(createModel("per-vma" as DesignName, { capacity: 4 })).rejects.toThrow(
      new RangeError('design must be one of "pointer-per-file", "pointer-per-inode", "stolen-bit", got "per-vma"'),
    );
    await expect(createModel(3 as unknown as DesignName, { capacity: 4 })).rejects.toThrow(TypeError);
  });

  test("side hash sizing takes an integer >= 0", () => {
    expect(() => sideHashSlots(-1)).toThrow(new RangeError("entries must be an integer >= 0, got -1"));
    expect(() => sideHashBytes(2.5)).toThrow(new RangeError("entries must be an integer >= 0, got 2.5"));
    expect(() => sideHashBytes("8" as unknown as number)).toThrow(
      new TypeError('entries must be an integer >= 0, got "8"'),
    );
  });

  test("hash functions and the probe simulation name a bad width, shift, key array or home", () => {
    expect(() => multiplicativeHome(33)).toThrow(new RangeError("bits must be an integer from 1 to 32, got 33"));
    expect(() => middleBitsHome(32, 8)).toThrow(new RangeError("shift must be an integer from 0 to 31, got 32"));
    expect(() => middleBitsHome(0, 0)).toThrow(new RangeError("bits must be an integer from 1 to 31, got 0"));
    const home = middleBitsHome(0, 3);
    expect(() => probeLengths([1n] as unknown as BigUint64Array, 3, home)).toThrow(
      new TypeError("keys must be a BigUint64Array, got [object Array]"),
    );
    expect(() => probeLengths(new BigUint64Array(1), 31, home)).toThrow(
      new RangeError("bits must be an integer from 1 to 30, got 31"),
    );
    expect(() => probeLengths(new BigUint64Array(1), 3, 7 as unknown as typeof home)).toThrow(
      new TypeError("home must be a function, got 7"),
    );
  });

  test("a slab option of the wrong type is a TypeError", () => {
    expect(() => new SlabCache({ objectSize: "1128" as unknown as number })).toThrow(
      new TypeError('objectSize must be an integer >= 1, got "1128"'),
    );
    expect(() => new SlabCache({ base: 0 as unknown as bigint })).toThrow(
      new TypeError("base must be a bigint in [0, 2^64), got 0"),
    );
  });
});
