import { expect } from "vitest";

/** The error `call` throws, failing the test when it throws none. */
export function thrownBy(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  return expect.fail("expected an error");
}
