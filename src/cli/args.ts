import { parseArgs } from 'node:util';

/** Exit codes scripts can rely on. */
export const ExitCode = {
  Ok: 0,
  /** The command ran and failed (service down, migration failed...). */
  Failure: 1,
  /** Bad usage or configuration: nothing was done. */
  Usage: 2,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Flags = Record<string, string | boolean | undefined>;

const COMMON = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses flags for one command; unknown flags are usage errors. */
export function parseFlags(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}): Flags {
  try {
    const { values } = parseArgs({ args: argv, options: { ...COMMON, ...extra }, strict: true, allowPositionals: false });
    return values as Flags;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** flag > environment variable > default. */
export function setting(flags: Flags, flag: string, env: string, fallback?: string): string | undefined {
  const value = flags[flag];
  if (typeof value === 'string') return value;
  return process.env[env] ?? fallback;
}

export function integerSetting(flags: Flags, flag: string, env: string): number | undefined {
  const raw = setting(flags, flag, env);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`--${flag} (or ${env}) must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return value;
}
