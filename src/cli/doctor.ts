import { COMMON_FLAGS, ExitCode, RELAY_FLAGS, TRANSPORT_FLAGS } from './args.js';
import type { Command } from './command.js';
import { configCheck, databaseChecks, partitionProblems, policiesCheck, transportCheck, type Check } from './doctor-checks.js';
import { plural, printJson, printLine } from './output.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the configuration, database, schema, policies, broker and relays',
  usage: `Usage: postbox doctor [--json] [the settings of postbox relay: --config, --database-url,
                      --schema, --transport, --rabbitmq-url, --kafka-brokers, --redis-url,
                      --policies, --batch-size, --lease-ms, --metrics-port]

Checks, each ok, warn or fail with a reason and a hint:
  config      flags, environment and config file are valid (every problem listed)
  database    PostgreSQL answers at the configured URL
  schema      postbox's tables are migrated to this version (pending migrations listed)
  policies    the retry policies are valid
  transport   a transport is configured and its broker accepts a connection (then closed)
  relays      a relay is alive (a warning only)

--json: { "ok": true|false, "checks": [{ "name", "status", "message", "hint"?, "details"? }] }
Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 bad usage.
`,
  flags: { ...COMMON_FLAGS, ...TRANSPORT_FLAGS, ...RELAY_FLAGS },
  config: 'lenient',
  async run({ resolved, loadProblems, logger, json }) {
    const problems = partitionProblems([...loadProblems, ...resolved.problems]);
    const [database, transport] = await Promise.all([databaseChecks(resolved), transportCheck(resolved, problems.transport, logger)]);
    const checks: Check[] = [
      configCheck(problems.config, resolved.config.file),
      ...database.slice(0, 2),
      policiesCheck(problems.policies, resolved.config.policies !== undefined),
      transport,
      ...database.slice(2),
    ];
    const failed = checks.filter((c) => c.status === 'fail').length;
    const warned = checks.filter((c) => c.status === 'warn').length;
    if (json) printJson({ ok: failed === 0, checks });
    else printLine(describeChecks(checks, failed, warned));
    return failed > 0 ? ExitCode.Failure : ExitCode.Ok;
  },
};

function describeChecks(checks: readonly Check[], failed: number, warned: number): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const indent = ' '.repeat(6 + width + 2);
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${check.status.padEnd(6)}${check.name.padEnd(width)}  ${check.message}`);
    for (const detail of check.details ?? []) lines.push(`${indent}- ${detail}`);
    if (check.hint !== undefined && check.status !== 'ok' && check.status !== 'skip') lines.push(`${indent}hint: ${check.hint}`);
  }
  lines.push('');
  if (failed === 0) lines.push(warned === 0 ? 'all checks passed' : `no check failed; ${plural(warned, 'warning')}`);
  else lines.push(`${plural(failed, 'check')} failed${warned > 0 ? `, ${plural(warned, 'warning')}` : ''}`);
  return lines.join('\n');
}
