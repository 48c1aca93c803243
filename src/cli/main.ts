#!/usr/bin/env node
/**
 * The postbox command: finds the command, parses its flags, merges the configuration (flags >
 * environment > config file) and runs it. Errors become one message on stderr (and a JSON
 * error on stdout with --json) and an exit code scripts can rely on: see `postbox help`.
 */
import { ConfigError, ValidationError } from '../errors.js';
import type { LogLevel } from '../logger.js';
import { ExitCode, parseCommandLine, UsageError, type Flags } from './args.js';
import type { Command, CommandContext } from './command.js';
import { COMMANDS, GROUPS } from './commands.js';
import { loadInputs } from './config/load.js';
import { CONFIG_SUBJECT, resolveConfig } from './config/resolve.js';
import { LOG_LEVELS } from './config/types.js';
import { redactText } from '../redact.js';
import { databaseUrlProblems, errorText } from './database.js';
import { createCliLogger } from './logger.js';
import { closest, groupUsage, overview } from './usage.js';

const HELP = new Set(['help', '--help', '-h']);

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || HELP.has(first)) return help(rest);
  let name = first;
  let args = rest;
  if (GROUPS.has(first)) {
    const sub = rest[0];
    if (sub === undefined || sub.startsWith('-')) {
      if (sub !== undefined && HELP.has(sub)) return print(groupUsage(first, COMMANDS.values()));
      process.stderr.write(groupUsage(first, COMMANDS.values()));
      return ExitCode.Usage;
    }
    name = `${first} ${sub}`;
    args = rest.slice(1);
  }
  const command = COMMANDS.get(name);
  if (command === undefined) {
    const guess = closest(name, [...COMMANDS.keys(), ...GROUPS]);
    throw new UsageError(`unknown command "${name}"${guess === undefined ? '' : `; did you mean "${guess}"?`} (postbox help lists the commands)`);
  }
  const { flags, positionals } = parseCommandLine(name, args, command.flags, command.maxPositionals ?? 0);
  if (flags.help) return print(command.usage);
  return command.run(await prepare(command, flags, positionals));
}

function help(topic: readonly string[]): number {
  const name = topic.filter((word) => !word.startsWith('-')).join(' ');
  if (name === '') return print(overview(COMMANDS.values()));
  if (GROUPS.has(name)) return print(groupUsage(name, COMMANDS.values()));
  const command = COMMANDS.get(name);
  if (command === undefined) throw new UsageError(`no command "${name}" (postbox help lists the commands)`);
  return print(command.usage);
}

function print(text: string): number {
  process.stdout.write(text);
  return ExitCode.Ok;
}

async function prepare(command: Command, flags: Flags, positionals: readonly string[]): Promise<CommandContext> {
  const env = process.env;
  const mode = command.config ?? 'strict';
  const inputs = mode === 'none' ? { problems: [] } : await loadInputs(flags, env);
  const resolved =
    mode === 'none'
      ? resolveConfig({ flags: { 'log-level': flags['log-level'] }, env: { POSTBOX_LOG_LEVEL: env.POSTBOX_LOG_LEVEL } })
      : resolveConfig({ flags, env, ...(inputs.file && { file: inputs.file }), ...(inputs.policies && { policies: inputs.policies }) });
  // Every strict command works on the database: a missing URL is listed with the other problems.
  const found = [...inputs.problems, ...resolved.problems];
  const problems = mode === 'strict' ? [...found, ...databaseUrlProblems(resolved.config, found)] : found;
  if (mode !== 'lenient' && problems.length > 0) throw new ConfigError(CONFIG_SUBJECT, problems);
  const wanted = resolved.config.logLevel;
  const level: LogLevel = wanted !== undefined && LOG_LEVELS.includes(wanted) ? wanted : command.defaultLogLevel ?? 'warn';
  return {
    flags,
    positionals,
    json: flags.json === true,
    config: resolved.config,
    resolved,
    loadProblems: inputs.problems,
    logger: createCliLogger(level),
    env,
  };
}

/** Exit code and message for anything a command threw. */
function report(error: unknown, json: boolean): number {
  const usage = error instanceof UsageError || error instanceof ConfigError || error instanceof ValidationError;
  const code = usage ? ExitCode.Usage : ExitCode.Failure;
  const message = errorText(error);
  // CommandFailure and the demo's errors carry a hint.
  const carried = (error as { hint?: unknown } | null)?.hint;
  const hint =
    error instanceof UsageError
      ? `run "postbox ${error.command ?? 'help'}${error.command === undefined ? '' : ' --help'}" for usage`
      : typeof carried === 'string'
        ? carried
        : undefined;
  process.stderr.write(`postbox: ${message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`);
  if (json) {
    const problems = error instanceof ConfigError || error instanceof ValidationError ? error.problems : undefined;
    const codeOf = (value: unknown): unknown => (value as { code?: unknown } | null)?.code;
    const errorCode = codeOf(error) ?? codeOf((error as { cause?: unknown } | null)?.cause);
    process.stdout.write(
      `${JSON.stringify({ error: { code: typeof errorCode === 'string' ? errorCode : usage ? 'USAGE' : 'FAILED', message, ...(hint && { hint }), ...(problems && { problems: problems.map((p) => ({ field: p.field, message: redactText(p.message) })) }) }, exitCode: code })}\n`,
    );
  }
  return code;
}

const argv = process.argv.slice(2);
main(argv)
  .catch((error: unknown) => report(error, argv.includes('--json')))
  .then((code) => {
    process.exitCode = code;
    // Something still open (a broker client's timer) must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2_000).unref();
  });
