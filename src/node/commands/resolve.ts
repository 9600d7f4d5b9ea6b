/**
 * `resolve PID ADDRESS...`: build ID, file and file offset of addresses in a live process.
 *
 * @packageDocumentation
 */
import { type Command, InvalidArgumentError } from "commander";
import type { Resolution } from "../resolver.js";
import { type CacheOptions, openResolver, withCacheOptions } from "./cache-options.js";
import { type CommandContext, hex, integerOption } from "./shared.js";

function address(value: string, previous: bigint[] = []): bigint[] {
  if (!/^(0x[0-9a-f]{1,16}|[0-9]{1,20})$/i.test(value) || BigInt(value) >= 1n << 64n) {
    throw new InvalidArgumentError(`address must be hex (0x...) or decimal below 2^64, got ${JSON.stringify(value)}`);
  }
  return [...previous, BigInt(value)];
}

function resolutionJson(address: bigint, r: Resolution): Record<string, unknown> {
  const where = { path: r.path, fileOffset: r.fileOffset === undefined ? undefined : hex(r.fileOffset) };
  return r.ok
    ? { address: hex(address), ok: true, buildId: r.buildId, ...where, cached: r.cached }
    : { address: hex(address), ok: false, reason: r.reason, detail: r.detail, ...where };
}

/** Adds `resolve` to `program` and returns it. */
export function registerResolve(program: Command, context: CommandContext): Command {
  const print = context.output.out;
  withCacheOptions(
    program
      .command("resolve")
      .description("build ID, file and file offset of addresses in a live process")
      .argument("<pid>", "process ID", integerOption("pid"))
      .argument("<address...>", "addresses, hex (0x...) or decimal", address)
      .option("--json", "print JSON"),
  ).action(async (pid: number, addresses: bigint[], options: CacheOptions & { json?: boolean }) => {
    const resolver = await openResolver(options, context);
    try {
      const results = await resolver.resolveMany(pid, addresses);
      if (options.json) {
        print(
          `${JSON.stringify(
            results.map((r, i) => resolutionJson(addresses[i]!, r)),
            null,
            2,
          )}\n`,
        );
        return;
      }
      const rows = results.map((r, i) => [
        hex(addresses[i]!),
        r.ok ? r.buildId : r.reason,
        r.path === undefined ? (r.ok ? "" : r.detail) : `${r.path}+${hex(r.fileOffset!)}`,
      ]);
      const widths = [0, 1].map((c) => Math.max(...rows.map((row) => row[c]!.length)));
      for (const row of rows) print(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}\n`);
    } finally {
      await context.finish();
    }
  });
  return program;
}
