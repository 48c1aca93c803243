import { createDeadLetters, type DeadLetter } from '../../outbox/dead-letters.js';
import { redactText } from '../../redact.js';
import { CommandFailure, COMMON_FLAGS, ExitCode, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { withDatabase } from '../database.js';
import { printJson, printLine } from '../output.js';
import { inFlagTerms } from './filters.js';
import { formatTime } from './list.js';

export const dlqShowCommand: Command = {
  name: 'dlq show',
  summary: 'one dead letter: payload, headers and every error',
  usage: `Usage: postbox dlq show ID [--json] [--database-url URL] [--schema NAME]

Shows one dead letter: topic, key, reason, attempts, headers, payload (as text when it is
JSON or text, else base64) and every attempt's error.

--json: the dead letter with "payload" (the JSON value, when the content type is JSON) and
"payloadBase64" (always). Exit 1 when no dead letter has that id.
`,
  flags: COMMON_FLAGS,
  maxPositionals: 1,
  async run({ config, positionals, json }) {
    const id = positionals[0];
    if (id === undefined) throw new UsageError('postbox dlq show needs the id of a dead letter (postbox dlq list shows them)', 'dlq show');
    const found = await withDatabase(config, async ({ pool, schema }) => {
      try {
        return await createDeadLetters({ pool, schema }).show(id);
      } catch (error) {
        throw inFlagTerms(error, 'dlq show');
      }
    });
    if (found === undefined) throw new CommandFailure(`no dead letter with id ${id} in schema ${config.database.schema}`, 'postbox dlq list shows the ids; a replayed dead letter is back in the outbox');
    if (json) printJson(toJson(found));
    else printLine(describe(found));
    return ExitCode.Ok;
  },
};

function toJson(dead: DeadLetter): Record<string, unknown> {
  const { payload, ...rest } = dead;
  const value = isJson(dead.contentType) ? tryParse(payload) : undefined;
  return {
    ...rest,
    lastError: dead.lastError === null ? null : redactText(dead.lastError),
    errors: dead.errors.map((e) => ({ ...e, message: redactText(e.message) })),
    ...(value !== undefined && { payload: value.parsed }),
    payloadBase64: payload.toString('base64'),
  };
}

function describe(dead: DeadLetter): string {
  const lines = [
    `id           ${dead.id}`,
    `topic        ${dead.topic}`,
    `key          ${dead.key ?? '-'}`,
    `reason       ${dead.reason}`,
    `attempts     ${dead.attempts}`,
    `created at   ${formatTime(dead.createdAt)}`,
    `first try    ${formatTime(dead.firstAttemptAt)}`,
    `last try     ${formatTime(dead.lastAttemptAt)}`,
    `dead at      ${formatTime(dead.deadAt)}`,
  ];
  if (dead.correlationId !== null) lines.push(`correlation  ${dead.correlationId}`);
  if (dead.replyTo !== null) lines.push(`reply to     ${dead.replyTo}`);
  const headers = Object.entries(dead.headers ?? {});
  lines.push('', `headers (${headers.length})`, ...headers.map(([name, value]) => `  ${name}: ${value}`));
  lines.push('', `payload (${dead.contentType}, ${dead.payload.length} bytes)`, `  ${payloadText(dead)}`);
  lines.push('', `errors (${dead.errors.length})`);
  for (const e of dead.errors) {
    const delay = e.delayMs === undefined ? '' : `, retry in ${e.delayMs}ms`;
    lines.push(`  #${e.attempt} ${e.at}${e.code ? ` ${e.code}` : ''}: ${redactText(e.message)}${delay}`);
  }
  return lines.join('\n');
}

function payloadText(dead: DeadLetter): string {
  const text = dead.payload.toString('utf8');
  const textual = isJson(dead.contentType) || dead.contentType.startsWith('text/');
  if (textual && Buffer.from(text, 'utf8').equals(dead.payload)) return text.replace(/\n/g, '\n  ');
  return `base64: ${dead.payload.toString('base64')}`;
}

function isJson(contentType: string): boolean {
  return /^application\/(.+\+)?json\b/.test(contentType);
}

function tryParse(payload: Buffer): { parsed: unknown } | undefined {
  try {
    return { parsed: JSON.parse(payload.toString('utf8')) as unknown };
  } catch {
    return undefined;
  }
}
