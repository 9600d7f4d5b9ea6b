/**
 * `find executable|debuginfo|section ID [NAME]`: a build ID's file from the local index, the cache,
 * then `DEBUGINFOD_URLS`.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import type { Artifact } from "../debuginfod/artifact.js";
import { findArtifact } from "../debuginfod/client.js";
import { openIndex } from "./local-index.js";
import { type CommandContext, integerOption } from "./shared.js";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `find` to `program` and returns it. */
export function registerFind(program: Command, context: CommandContext): Command {
  const { output } = context;
  program
    .command("find")
    .description(
      "print the path of a build ID's executable, debuginfo or section: local index, then the cache, then DEBUGINFOD_URLS",
    )
    .argument("<artifact>", "executable, debuginfo or section")
    .argument("<buildid>", "the build ID in hex")
    .argument("[section]", "the section name, for section")
    .option("--root <dir>", "index this directory first (repeatable)", collect, [])
    .option("--index <file>", "ask the index saved in this file (by serve --index) first")
    .option(
      "--timeout <seconds>",
      "give up on a server after this long without progress",
      integerOption("--timeout", 1, 86_400),
    )
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)")
    .action(
      async (
        artifact: Artifact,
        buildId: string,
        section: string | undefined,
        options: { root: string[]; index?: string; timeout?: number; progress: boolean },
      ) => {
        const local = options.root.length || options.index;
        const index = local
          ? await openIndex(options.root, options.index, options.root.length > 0, options.progress, output)
          : undefined;
        try {
          const found = await findArtifact(artifact, buildId, {
            ...(section === undefined ? {} : { section }),
            ...(index ? { index } : {}),
            ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout * 1000 }),
            progress: options.progress,
          });
          output.out(`${found.path}\n`);
        } finally {
          index?.dispose();
        }
      },
    );
  return program;
}
