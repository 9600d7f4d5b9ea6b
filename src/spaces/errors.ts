/** The address-space model's error for an event it refuses. */

/** Why an event was refused. */
export type SpaceEventErrorCode =
  /** The event is older than the last event applied to a space it touches. */
  | "OUT_OF_ORDER"
  /** A range is empty or runs past 2^64. */
  | "BAD_RANGE"
  /** Two mappings of a snapshot overlap. */
  | "OVERLAP"
  /** A fork, exit or exec names the kernel's space (`KERNEL_PID`). */
  | "BAD_PID"
  /** The model has handed out every file id (2^31 of them) and can name no new file. */
  | "LIMIT";

/** Thrown by `AddressSpaces.apply` for an event it refuses; the model is unchanged. */
export class SpaceEventError extends Error {
  /** Always "SpaceEventError", so the error can be told apart after serialisation. */
  override readonly name = "SpaceEventError";
  /** What kind of problem it is. */
  readonly code: SpaceEventErrorCode;

  /** @param code what kind of problem; @param message what was wrong, with the values involved. */
  constructor(code: SpaceEventErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
