/**
 * `resolve PID ADDRESS...`: build ID, file and file offset of addresses in a live process.
 *
 * @packageDocumentation
 */

import type { Resolution } from "../resolver/answers.js";
import { CACHE_EXITS, type CacheOptions, openResolver, withCacheOptions } from "./cache-options.js";
import { type Command, InvalidArgumentError } from "./commander.js";
import { withHelpSections } from "./help.js";
import { NoSuchProcessError, requireProcess } from "./live-process.js";
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

/**
 * Adds `resolve` to `program` and returns it. An address that resolves to nothing is an answer
 * (its reason is printed); a process that does not exist is a failure.
 */
export function registerResolve(program: Command, context: CommandContext): Command {
  const print = context.output.out;
  const command = withCacheOptions(
    program
      .command("resolve")
      .summary("build ID, file and file offset of addresses in a live process")
      .description(
        "print the build ID, file and file offset of each address in a live process, or why it has none (anonymous memory, no mapping, a file without a build ID)",
      )
      .argument("<pid>", "process ID", integerOption("pid"))
      .argument("<address...>", "addresses, hex (0x...) or decimal", address)
      .option("--json", "print JSON: one object per address"),
  ).action(async (pid: number, addresses: bigint[], options: CacheOptions & { json?: boolean }) => {
    await requireProcess(options.proc, pid);
    const resolver = await openResolver(options, context);
    try {
      const results = await resolver.resolveMany(pid, addresses);
      if (results.some((r) => !r.ok && r.reason === "exited")) {
        throw new NoSuchProcessError(pid, "it exited while its maps were read");
      }
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
  withHelpSections(command, {
    examples: [
      ["buildid-cache resolve 4242 0x55d0c0a01234", "one line per address: the address, the build ID, PATH+OFFSET"],
      [
        "buildid-cache resolve --json --cache-file ~/.cache/bid 4242 0x7f3a1c2b5e10",
        "the same as JSON, the cache kept in a file across runs",
      ],
    ],
    exitStatuses: CACHE_EXITS,
  });
  return program;
}
