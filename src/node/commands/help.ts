/**
 * Help as a Unix user expects it: examples, the environment variables a command reads and its exit
 * statuses after commander's own sections, every line wrapped to the terminal's width (80 columns
 * when standard output is not a terminal).
 *
 * @packageDocumentation
 */
import { type Command, Help } from "./commander.js";
import { EXIT_MEANINGS, type ExitStatus } from "./shared.js";

/** The sections a command adds to its help, after its options. */
export interface HelpSections {
  /** Command lines, each with what it does. */
  examples?: readonly (readonly [command: string, what: string])[];
  /** Environment variables the command reads, each with what for. */
  environment?: readonly (readonly [name: string, meaning: string])[];
  /** The exit statuses the command can end with. */
  exitStatuses: readonly ExitStatus[];
}

const sections = new WeakMap<Command, HelpSections>();

/** Gives `command` the help sections `more` and returns it. */
export function withHelpSections(command: Command, more: HelpSections): Command {
  sections.set(command, more);
  return command;
}

// Below this many columns for a description beside its term, the description goes under the term.
const MIN_DESCRIPTION = 30;
const UNDER_INDENT = 6;

function width(helper: Help): number {
  return helper.helpWidth ?? 80;
}

// Wraps a line that is still too long (a usage line, a long term) at spaces, continuing two columns in.
function fit(text: string, helper: Help): string {
  const max = width(helper);
  return text
    .split("\n")
    .map((line) => {
      if (line.length <= max) return line;
      const indent = line.length - line.trimStart().length;
      const hang = " ".repeat(indent + 2);
      const [first, ...rest] = helper.boxWrap(line.trimStart(), max - indent - 2).split("\n");
      return [" ".repeat(indent) + first, ...rest.map((r) => hang + r)].join("\n");
    })
    .join("\n");
}

function formatItem(term: string, termWidth: number, description: string, helper: Help): string {
  const room = width(helper) - termWidth - 4;
  if (!description || room >= MIN_DESCRIPTION)
    return Help.prototype.formatItem.call(helper, term, termWidth, description, helper);
  const under = " ".repeat(UNDER_INDENT);
  const wrapped = helper.boxWrap(description, width(helper) - UNDER_INDENT).replace(/\n/g, `\n${under}`);
  return `  ${term}\n${under}${wrapped}`;
}

function list(heading: string, items: readonly (readonly [string, string])[], helper: Help): string[] {
  const termWidth = Math.max(...items.map(([term]) => term.length));
  return ["", heading, ...items.map(([term, text]) => helper.formatItem(term, termWidth, text, helper))];
}

function examples(items: HelpSections["examples"] & object, helper: Help): string[] {
  const indent = " ".repeat(UNDER_INDENT);
  const what = (text: string) =>
    indent + helper.boxWrap(text, width(helper) - UNDER_INDENT).replace(/\n/g, `\n${indent}`);
  return ["", "Examples:", ...items.flatMap(([line, text]) => [`  ${line}`, what(text)])];
}

function formatHelp(command: Command, helper: Help): string {
  const lines = [Help.prototype.formatHelp.call(helper, command, helper).trimEnd()];
  const more = sections.get(command);
  if (more) {
    if (more.examples?.length) lines.push(...examples(more.examples, helper));
    if (more.environment?.length) lines.push(...list("Environment:", more.environment, helper));
    const statuses = more.exitStatuses.map((s) => [String(s), EXIT_MEANINGS[s]] as const);
    lines.push(...list("Exit status:", statuses, helper));
  }
  return `${fit(lines.join("\n"), helper)}\n`;
}

/**
 * The help configuration for the program (commander copies it to the commands created after):
 * {@link HelpSections} after commander's sections, descriptions under their terms when the
 * terminal is too narrow to set them beside, and no line longer than the width.
 */
export function helpConfiguration(): Partial<Help> {
  return { minWidthToWrap: 1, formatItem, formatHelp };
}
