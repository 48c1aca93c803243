/** The filter flags shared by dlq list, replay and purge, and the API's validation errors in flag terms. */
import { isPostboxError, ValidationError } from '../../errors.js';
import type { DeadLetterFilter } from '../../outbox/dead-letters.js';
import type { DeadReason } from '../../retry/types.js';
import { COMMON_FLAGS, UsageError, type Flags, type FlagSpec } from '../args.js';

export const FILTER_FLAGS = {
  ...COMMON_FLAGS,
  topic: { type: 'string' },
  reason: { type: 'string' },
  key: { type: 'string' },
  id: { type: 'string', multiple: true },
  since: { type: 'string' },
  before: { type: 'string' },
  limit: { type: 'string' },
} as const satisfies FlagSpec;

export const FILTER_USAGE = `Filters (every one given must match):
  --topic PATTERN   a topic or an AMQP pattern: orders.*, audit.#
  --reason R        max-attempts, max-age, permanent-error or unroutable
  --key K           the message key
  --id ID           a dead letter's id (repeat for several)
  --since WHEN      dead at or after WHEN: an ISO time (2024-05-01T12:00:00Z) or an age (30m, 24h, 7d)
  --before WHEN     dead before WHEN (same forms)`;

const FLAG_OF_FIELD: Record<string, string> = {
  ids: '--id',
  topic: '--topic',
  key: '--key',
  reason: '--reason',
  deadAfter: '--since',
  deadBefore: '--before',
  limit: '--limit',
};

export function filterFromFlags(flags: Flags, now: number = Date.now()): DeadLetterFilter {
  const ids = flags.id as string[] | undefined;
  return {
    ...(ids !== undefined && ids.length > 0 && { ids }),
    ...(typeof flags.topic === 'string' && { topic: flags.topic }),
    ...(typeof flags.reason === 'string' && { reason: flags.reason as DeadReason }),
    ...(typeof flags.key === 'string' && { key: flags.key }),
    ...(typeof flags.since === 'string' && { deadAfter: parseWhen(flags.since, '--since', now) }),
    ...(typeof flags.before === 'string' && { deadBefore: parseWhen(flags.before, '--before', now) }),
  };
}

export function hasFilter(filter: DeadLetterFilter): boolean {
  return Object.keys(filter).length > 0;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseWhen(text: string, flag: string, now: number): Date {
  const age = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (age !== null) return new Date(now - Number(age[1]) * (UNIT_MS[age[2] as string] as number));
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(date.getTime())) {
    throw new UsageError(`${flag} must be an ISO time such as 2024-05-01T12:00:00Z, or an age such as 30m, 24h or 7d; got ${JSON.stringify(text)}`);
  }
  return date;
}

/** The dead-letter API names its fields (deadAfter...); the command line names flags (--since...). */
export function inFlagTerms(error: unknown, command: string): unknown {
  if (!(error instanceof ValidationError) || !isPostboxError(error)) return error;
  const lines = error.problems.map((p) => `${FLAG_OF_FIELD[p.field] ?? p.field} ${p.message}`);
  return new UsageError(lines.join('; '), command);
}
