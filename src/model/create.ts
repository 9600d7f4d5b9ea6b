/**
 * One constructor for any design, so a benchmark can pick one by name.
 * @module
 */
import { oneOf } from "../check.js";
import type { BuildIdModel } from "./base.js";
import { DESIGNS, type DesignName } from "./costs.js";
import { PointerPerFileModel, PointerPerInodeModel } from "./rivals.js";
import { StolenBitModel, type StolenBitModelOptions } from "./stolen-bit.js";

/** Options for {@link createModel}: `capacity` and `wasm` apply to the stolen-bit design only. */
export type AnyModelOptions = StolenBitModelOptions;

/**
 * Creates the model of `design`; the rivals ignore `capacity` (they never evict).
 * @throws TypeError or RangeError naming `design` when it is not one of {@link DESIGNS}, or as the model's constructor does.
 */
export async function createModel(
  design: DesignName,
  options: AnyModelOptions,
): Promise<
  BuildIdModel & {
    /** Releases the side hash; present only on the stolen-bit model. */
    dispose?(): void;
  }
> {
  switch (oneOf("design", design, DESIGNS)) {
    case "stolen-bit":
      return StolenBitModel.create(options);
    case "pointer-per-file":
      return new PointerPerFileModel(options);
    case "pointer-per-inode":
      return new PointerPerInodeModel(options);
  }
}
