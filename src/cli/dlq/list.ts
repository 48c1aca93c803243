import { createDeadLetters } from '../../outbox/dead-letters.js';
import { redactText } from '../../redact.js';
import { ExitCode, integerFlag } from '../args.js';
import type { Command } from '../command.js';
import { withDatabase } from '../database.js';
import { clip, plural, printJson, printLine, table } from '../output.js';
import { FILTER_FLAGS, FILTER_USAGE, filterFromFlags, inFlagTerms } from './filters.js';

export const dlqListCommand: Command = {
  name: 'dlq list',
  summary: 'dead letters, oldest first, with filters',
  usage: `Usage: postbox dlq list [filters] [--limit N] [--json] [--database-url URL] [--schema NAME]

Lists dead letters, oldest first: id, topic, key, reason, attempts, when it died, last error.
--limit N shows at most N (default 50, at most 100000).

${FILTER_USAGE}

--json: { "total": N, "deadLetters": [{ id, topic, key, reason, attempts, createdAt, deadAt, lastError }] }
`,
  flags: FILTER_FLAGS,
  async run({ config, flags, json }) {
    const filter = filterFromFlags(flags);
    const limit = integerFlag(flags, 'limit', { min: 1, max: 100_000 }) ?? 50;
    const { items, total } = await withDatabase(config, async ({ pool, schema }) => {
      const dead = createDeadLetters({ pool, schema });
      try {
        return { items: await dead.list({ ...filter, limit }), total: await dead.count(filter) };
      } catch (error) {
        throw inFlagTerms(error, 'dlq list');
      }
    });
    const shown = items.map((item) => ({ ...item, lastError: item.lastError === null ? null : redactText(item.lastError) }));
    if (json) {
      printJson({ total, deadLetters: shown });
      return ExitCode.Ok;
    }
    if (total === 0) {
      printLine('no dead letters match');
      return ExitCode.Ok;
    }
    printLine(
      table(
        ['ID', 'TOPIC', 'KEY', 'REASON', 'ATTEMPTS', 'DEAD AT', 'LAST ERROR'],
        shown.map((d) => [d.id, d.topic, d.key ?? '-', d.reason, String(d.attempts), formatTime(d.deadAt), clip(d.lastError ?? '-', 60)]),
        new Set([4]),
      ),
    );
    printLine(total > shown.length ? `showing ${shown.length} of ${plural(total, 'dead letter')}, oldest first (--limit N for more)` : plural(total, 'dead letter'));
    return ExitCode.Ok;
  },
};

export function formatTime(date: Date | null): string {
  return date === null ? '-' : `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}
