import { createDeadLetters } from '../../outbox/dead-letters.js';
import { ExitCode, integerFlag, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { withDatabase } from '../database.js';
import { plural, printJson, printLine } from '../output.js';
import { FILTER_FLAGS, FILTER_USAGE, filterFromFlags, hasFilter, inFlagTerms } from './filters.js';
import { inPages } from './pages.js';

export const dlqPurgeCommand: Command = {
  name: 'dlq purge',
  summary: 'delete dead letters for good (filters, or --yes for all)',
  usage: `Usage: postbox dlq purge [filters] [--limit N] [--dry-run] [--yes] [--page-size N] [--json]

Deletes the matching dead letters, oldest first. They cannot be replayed afterwards.
Without filters every dead letter is deleted, which needs --yes.

  --limit N       delete at most N (default: every match)
  --dry-run       show how many would be deleted; change nothing
  --yes           confirm a purge without filters
  --page-size N   dead letters per statement (default 1000); progress on stderr between pages

${FILTER_USAGE}

--json: { "count": N } (with --dry-run: "dryRun": true).
`,
  flags: { ...FILTER_FLAGS, 'dry-run': { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, 'page-size': { type: 'string' } },
  async run({ config, flags, json }) {
    const filter = filterFromFlags(flags);
    const limit = integerFlag(flags, 'limit', { min: 1 });
    const pageSize = integerFlag(flags, 'page-size', { min: 1, max: 100_000 }) ?? 1000;
    const dryRun = flags['dry-run'] === true;
    if (!hasFilter(filter) && !dryRun && flags.yes !== true) {
      throw new UsageError('without filters, purge deletes every dead letter: add --yes to confirm, or filters (--topic, --reason, --since...); --dry-run counts them first', 'dlq purge');
    }
    return withDatabase(config, async ({ pool, schema }) => {
      const dead = createDeadLetters({ pool, schema });
      try {
        if (dryRun) {
          const count = await dead.purge({ ...filter, ...(limit !== undefined && { limit }), dryRun: true });
          if (json) printJson({ dryRun: true, count });
          else printLine(`would purge ${plural(count, 'dead letter')} (dry run: nothing changed)`);
          return ExitCode.Ok;
        }
        const matching = await dead.count(filter);
        const run = await inPages({
          total: Math.min(matching, limit ?? matching),
          pageSize,
          verb: 'purging dead letters',
          page: (size) => dead.purge({ ...filter, limit: size }),
        });
        run.finish(`purged ${plural(run.done, 'dead letter')}`);
        if (json) printJson({ count: run.done });
        else printLine(`purged ${plural(run.done, 'dead letter')}`);
        return ExitCode.Ok;
      } catch (error) {
        throw inFlagTerms(error, 'dlq purge');
      }
    });
  },
};
