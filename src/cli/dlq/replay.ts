import { createDeadLetters } from '../../outbox/dead-letters.js';
import { ExitCode, integerFlag } from '../args.js';
import type { Command } from '../command.js';
import { withDatabase } from '../database.js';
import { plural, printJson, printLine } from '../output.js';
import { FILTER_FLAGS, FILTER_USAGE, filterFromFlags, inFlagTerms } from './filters.js';
import { inPages } from './pages.js';

/** The API's largest limit per call, and so the most ids a dry run lists. */
const MAX_PER_CALL = 100_000;

export const dlqReplayCommand: Command = {
  name: 'dlq replay',
  summary: 'move dead letters back to the outbox (same ids unless --new-ids)',
  usage: `Usage: postbox dlq replay [filters] [--limit N] [--dry-run] [--new-ids] [--page-size N] [--json]

Moves the matching dead letters, oldest first, back to the outbox: attempts start again, the
error history is kept. Ids are kept (consumers' inboxes treat the message as already seen if
they processed it); --new-ids gives each a fresh id. A dead letter whose id is pending in the
outbox again is skipped.

  --limit N       replay at most N (default: every match)
  --dry-run       show how many would be replayed; change nothing
  --page-size N   dead letters per transaction (default 500); progress on stderr between pages

${FILTER_USAGE}

--json: { "count": N, "replayed": [{ "id", "outboxId" }] } (with --dry-run: "dryRun": true and the ids;
"idsTruncated": true when more than 100000 match).
`,
  flags: { ...FILTER_FLAGS, 'dry-run': { type: 'boolean' }, 'new-ids': { type: 'boolean' }, 'page-size': { type: 'string' } },
  async run({ config, flags, json }) {
    const filter = filterFromFlags(flags);
    const limit = integerFlag(flags, 'limit', { min: 1 });
    const pageSize = integerFlag(flags, 'page-size', { min: 1, max: MAX_PER_CALL }) ?? 500;
    const newIds = flags['new-ids'] === true;
    return withDatabase(config, async ({ pool, schema }) => {
      const dead = createDeadLetters({ pool, schema });
      try {
        const matching = await dead.count(filter);
        const total = Math.min(matching, limit ?? matching);
        if (flags['dry-run']) {
          // One dry-run call checks at most MAX_PER_CALL dead letters one by one; the rest are counted, not checked.
          const checked = Math.min(total, MAX_PER_CALL);
          const result = total === 0 ? { count: 0, replayed: [] } : await dead.replay({ ...filter, limit: checked, dryRun: true });
          const unchecked = total - checked;
          const count = result.count + unchecked;
          if (json) printJson({ dryRun: true, count, ids: result.replayed.map((r) => r.id), ...(unchecked > 0 && { idsTruncated: true }) });
          else {
            const beyond = unchecked > 0 ? ` (the first ${checked} checked one by one, ${unchecked} more counted)` : '';
            printLine(`would replay ${plural(count, 'dead letter')}${skippedNote(checked, result.count)}${beyond} (dry run: nothing changed)`);
          }
          return ExitCode.Ok;
        }
        const replayed: Array<{ id: string; outboxId: string }> = [];
        const run = await inPages({
          total,
          pageSize,
          verb: 'replaying dead letters',
          page: async (size) => {
            const result = await dead.replay({ ...filter, limit: size, newIds });
            replayed.push(...result.replayed);
            return result.count;
          },
        });
        run.finish(`replayed ${plural(run.done, 'dead letter')}`);
        if (json) printJson({ count: run.done, replayed });
        else printLine(`replayed ${plural(run.done, 'dead letter')} to the outbox${newIds ? ' with new ids' : ''}${skippedNote(total, run.done)}`);
        return ExitCode.Ok;
      } catch (error) {
        throw inFlagTerms(error, 'dlq replay');
      }
    });
  },
};

function skippedNote(total: number, done: number): string {
  return done < total ? `; ${total - done} skipped: their id is pending in the outbox again, or another replay or purge holds them` : '';
}
