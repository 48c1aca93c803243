import { readStatus, type OutboxStatus } from '../outbox/status.js';
import { COMMON_FLAGS, ExitCode, integerFlag } from './args.js';
import type { Command } from './command.js';
import { withDatabase } from './database.js';
import { formatCount, formatDuration, plural, printJson, printLine, table } from './output.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'messages by topic and state, oldest pending age, dead letters, relays',
  usage: `Usage: postbox status [--database-url URL] [--schema NAME] [--config FILE] [--json]
                      [--fail-on-dead] [--max-age-ms N]

Per topic: ready (due, waiting for a relay), scheduled (deliverAt in the future), retrying
(failed before, in backoff), in flight (leased by a relay), dead, and the age of the oldest
message that is due and not yet published; totals; relays with their last heartbeat.

  --fail-on-dead    exit 3 when there is any dead letter
  --max-age-ms N    exit 3 when the oldest due message is older than N ms (the relay lags)

--json prints the data: { "topics": [...], "totals": {...}, "relays": [...] }.
Exit codes: 0 ok, 1 failed (database unreachable, schema not migrated), 2 bad usage or
configuration, 3 a threshold above was crossed.
`,
  flags: { ...COMMON_FLAGS, 'fail-on-dead': { type: 'boolean' }, 'max-age-ms': { type: 'string' } },
  async run({ config, flags, json }) {
    const maxAgeMs = integerFlag(flags, 'max-age-ms');
    const status = await withDatabase(config, ({ pool, schema }) => readStatus(pool, { schema }));
    if (json) printJson(status);
    else printLine(describeStatus(status, config.database.schema));
    const { dead, oldestDueAgeMs } = status.totals;
    const tooOld = maxAgeMs !== undefined && oldestDueAgeMs !== null && oldestDueAgeMs > maxAgeMs;
    if (tooOld && !json) process.stderr.write(`postbox status: the oldest due message is ${formatDuration(oldestDueAgeMs)} old, more than --max-age-ms ${maxAgeMs}\n`);
    if (flags['fail-on-dead'] && dead > 0 && !json) process.stderr.write(`postbox status: ${plural(dead, 'dead letter')} (--fail-on-dead); see postbox dlq list\n`);
    return tooOld || (flags['fail-on-dead'] && dead > 0) ? ExitCode.Attention : ExitCode.Ok;
  },
};

export function describeStatus(status: OutboxStatus, schema: string): string {
  const lines: string[] = [];
  if (status.topics.length === 0) {
    lines.push(`schema ${schema}: nothing pending, no dead letters`);
  } else {
    const row = (name: string, t: OutboxStatus['totals']): string[] => [
      name,
      formatCount(t.ready),
      formatCount(t.scheduled),
      formatCount(t.retrying),
      formatCount(t.inFlight),
      formatCount(t.dead),
      t.oldestDueAgeMs === null ? '-' : formatDuration(t.oldestDueAgeMs),
    ];
    const rows = status.topics.map((t) => row(t.topic, t));
    rows.push(row('total', status.totals));
    lines.push(`schema ${schema}`);
    lines.push(table(['TOPIC', 'READY', 'SCHEDULED', 'RETRYING', 'IN FLIGHT', 'DEAD', 'OLDEST DUE'], rows, new Set([1, 2, 3, 4, 5, 6])));
  }
  lines.push('');
  const alive = status.relays.filter((r) => r.alive).length;
  const stale = status.relays.length - alive;
  if (status.relays.length === 0) {
    lines.push('relays: none registered (start one with: postbox relay)');
  } else {
    lines.push(`relays: ${alive} alive${stale > 0 ? `, ${stale} stale (no heartbeat for over a minute)` : ''}`);
    const now = Date.now();
    lines.push(
      table(
        ['ID', 'TRANSPORT', 'STATE', 'HEARTBEAT', 'UP'],
        status.relays.map((r) => [r.id, r.transport, r.alive ? 'alive' : 'stale', `${formatDuration(Math.max(0, now - r.heartbeatAt.getTime()))} ago`, formatDuration(Math.max(0, now - r.startedAt.getTime()))]),
      ),
    );
  }
  return lines.join('\n');
}
