/** The model's two errors: a wrong-state operation, and a broken invariant found by `verify()`. */

/** Thrown for an operation on an object in the wrong state (a freed inode, a closed file) or a bad handle. */
export class ModelStateError extends Error {
  /** Always "ModelStateError", so the error can be told apart after serialisation. */
  override name = "ModelStateError";
}

/** Thrown by `verify()` when a model's own invariant is broken. */
export class ModelInvariantError extends Error {
  /** Always "ModelInvariantError", so the error can be told apart after serialisation. */
  override name = "ModelInvariantError";
}
