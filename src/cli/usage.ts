import type { Command } from './command.js';

export function overview(commands: Iterable<Command>): string {
  const list = [...commands];
  const width = Math.max(...list.map((c) => c.name.length));
  return `postbox: reliable publishing through a PostgreSQL outbox

Usage: postbox <command> [flags]      postbox <command> --help for its flags

Commands:
${list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  this text; postbox help <command> for one command

Settings (flags > environment variables > config file, per field):
  --config FILE          POSTBOX_CONFIG         config file; default ./postbox.config.json|.js|.mjs|.ts
  --database-url URL     DATABASE_URL           database.url
  --schema NAME          POSTBOX_SCHEMA         database.schema (default postbox)
  --transport T          POSTBOX_TRANSPORT      transport.type: rabbitmq, kafka or bullmq
  --rabbitmq-url URL     POSTBOX_RABBITMQ_URL   transport.url (rabbitmq)
  --kafka-brokers H:P,.. POSTBOX_KAFKA_BROKERS  transport.brokers (kafka)
  --redis-url URL        POSTBOX_REDIS_URL      transport.connection (bullmq)
  --policies FILE        POSTBOX_POLICIES       policies (a JSON or JS file)
  --batch-size N         POSTBOX_BATCH_SIZE     relay.batchSize
  --lease-ms N           POSTBOX_LEASE_MS       relay.leaseMs
  --metrics-port N       POSTBOX_METRICS_PORT   metrics.port
  --log-level L          POSTBOX_LOG_LEVEL      logLevel: debug, info, warn, error, silent
  --json                                        output for scripts: one JSON document on stdout

Output: results on stdout (text, or JSON with --json); logs as JSON lines and progress on
stderr. Credentials in URLs are never printed.

Exit codes:
  0  ok
  1  the command ran and failed (database or broker unreachable, migration failed, a doctor
     check failed, no such dead letter, relay forced to stop by a second signal)
  2  bad usage or configuration: nothing was done (every problem is listed)
  3  status found what its thresholds ask about (--fail-on-dead, --max-age-ms)
`;
}

export function groupUsage(group: string, commands: Iterable<Command>): string {
  const list = [...commands].filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...list.map((c) => c.name.length));
  return `Usage: postbox ${group} <command> [flags]

${list.map((c) => `  postbox ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

postbox ${group} <command> --help for its flags.
`;
}

/** The known name closest to a mistyped one, if any is close. */
export function closest(name: string, names: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of names) {
    const distance = editDistance(name, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
