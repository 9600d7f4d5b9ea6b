/**
 * commander's classes, loaded through `require`: its ESM entry wraps the same CommonJS module and costs a
 * process about 5 ms more (Node parses index.js with cjs-module-lexer to name its exports).
 *
 * @packageDocumentation
 */
import module from "node:module";
import type * as Commander from "commander";

const commander = module.createRequire(import.meta.url)("commander") as typeof Commander;

/** commander's `Command`. */
export const Command = commander.Command;
/** commander's `Command`. */
export type Command = Commander.Command;
/** commander's `CommanderError`. */
export const CommanderError = commander.CommanderError;
/** commander's `CommanderError`. */
export type CommanderError = Commander.CommanderError;
/** commander's `Help`. */
export const Help = commander.Help;
/** commander's `Help`. */
export type Help = Commander.Help;
/** commander's `InvalidArgumentError`. */
export const InvalidArgumentError = commander.InvalidArgumentError;
/** commander's `InvalidArgumentError`. */
export type InvalidArgumentError = Commander.InvalidArgumentError;
