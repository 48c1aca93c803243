import { parseArgs } from 'node:util';

/** Exit codes scripts can rely on (documented in `postbox help` and the README). */
export const ExitCode = {
  Ok: 0,
  /** The command ran and failed: a service down, a migration failed, a doctor check failed. */
  Failure: 1,
  /** Bad usage or configuration: nothing was done. */
  Usage: 2,
  /** The command worked and found something that needs attention (status thresholds: --fail-on-dead, --max-age-ms). */
  Attention: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad usage: an unknown flag, a missing argument. Exit 2, with a pointer to the command's help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The command ran and failed (exit 1); `hint` says what to do about it. */
export class CommandFailure extends Error {
  override readonly name = 'CommandFailure';
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type FlagSpec = Readonly<Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string; readonly multiple?: boolean }>>;
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** Flags every command that reads the configuration takes. */
export const COMMON_FLAGS = {
  config: { type: 'string' },
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagSpec;

/** The transport and its broker. */
export const TRANSPORT_FLAGS = {
  transport: { type: 'string' },
  'rabbitmq-url': { type: 'string' },
  'kafka-brokers': { type: 'string' },
  'redis-url': { type: 'string' },
} as const satisfies FlagSpec;

/** What only the relay (and doctor, which checks the relay's configuration) uses. */
export const RELAY_FLAGS = {
  policies: { type: 'string' },
  'batch-size': { type: 'string' },
  'lease-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
} as const satisfies FlagSpec;

/**
 * Parses one command's arguments: unknown flags, missing values and unexpected arguments are
 * usage errors naming the command, so the message can point at its help.
 */
export function parseCommandLine(command: string, argv: readonly string[], spec: FlagSpec, maxPositionals = 0): { flags: Flags; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }, command), command);
  }
  const { values, positionals } = parsed;
  if (positionals.length > maxPositionals && !values.help) {
    const extra = positionals.slice(maxPositionals).map((p) => JSON.stringify(p)).join(' ');
    throw new UsageError(`postbox ${command} does not take ${maxPositionals === 0 ? 'arguments' : 'that many arguments'}: ${extra}`, command);
  }
  return { flags: values as Flags, positionals };
}

/** parseArgs' messages, in postbox's words: the long flag name ('-y, --yes' names both), and what to do. */
function describeParseError(error: Error & { code?: string }, command: string): string {
  const named = /'((?:-[^-' ,]+, )?(-{1,2}[^' ]+))/.exec(error.message);
  const option = named?.[2] ?? named?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined) return `unknown flag ${option} for postbox ${command}`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option !== undefined) {
    if (error.message.includes('argument missing')) return `${option} needs a value`;
    // The next word starts with '-': another flag, most likely, or a value that must be attached.
    if (error.message.includes('ambiguous')) return `${option} needs a value (a value starting with '-' goes as ${option}=-value)`;
    return `${option} does not take a value`;
  }
  return error.message;
}

/** An integer flag (positional arguments and command-specific numbers, not configuration). */
export function integerFlag(flags: Flags, name: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number | undefined {
  const raw = flags[name];
  if (typeof raw !== 'string') return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
