#!/usr/bin/env node
import { ConfigError, isPostboxError } from '../errors.js';
import { redactText } from '../redact.js';
import { ExitCode, UsageError } from './args.js';
import { migrateCommand } from './migrate.js';
import { relayCommand } from './relay.js';

const USAGE = `postbox: reliable publishing through a PostgreSQL outbox

Usage:
  postbox migrate [--database-url URL] [--schema NAME] [--json]
  postbox relay   --rabbitmq-url URL [--database-url URL] [--schema NAME] [--policies FILE]
                  [--batch-size N] [--lease-ms N] [--log-level debug|info|warn|error]
  postbox help

Settings come from flags, then environment variables:
  DATABASE_URL, POSTBOX_SCHEMA, POSTBOX_RABBITMQ_URL, POSTBOX_POLICIES, POSTBOX_LOG_LEVEL

Exit codes: 0 ok, 1 the command failed, 2 bad usage or configuration.
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  migrate: migrateCommand,
  relay: relayCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return ExitCode.Ok;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`postbox: unknown command "${name}"\n\n${USAGE}`);
    return ExitCode.Usage;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || error instanceof ConfigError;
    const message = isPostboxError(error) || error instanceof Error ? error.message : String(error);
    process.stderr.write(`postbox: ${redactText(message)}\n`);
    if (error instanceof UsageError) process.stderr.write('Run "postbox help" for usage.\n');
    process.exitCode = usage ? ExitCode.Usage : ExitCode.Failure;
  },
);
