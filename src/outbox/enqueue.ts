import { Header, type MessageInput } from '../message.js';
import type { Queryable } from '../db/queryable.js';
import { DEFAULT_SCHEMA, quoteIdent, schemaProblem } from '../db/schema.js';
import { ConfigError, type Problem } from '../errors.js';
import { prepareMessages, type PreparedMessage } from './validate.js';
import { insertMessagesSql, lookupIdempotencyKeysSql } from './sql/insert-messages.js';
import { markEnqueued, signalEnqueued } from '../signals.js';
import { activeTraceHeaders, addTraceHeaders } from '../tracing/enqueue.js';

export interface OutboxOptions {
  /** Schema the migrations were applied to. Default `postbox`. */
  readonly schema?: string;
  /** Largest payload accepted, in bytes after serialisation. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** How long an idempotency key deduplicates. Default 24 hours. */
  readonly idempotencyTtlMs?: number;
}

export const OUTBOX_DEFAULTS = Object.freeze({
  schema: DEFAULT_SCHEMA,
  maxPayloadBytes: 1024 * 1024,
  idempotencyTtlMs: 24 * 60 * 60 * 1000,
});

export interface Outbox {
  readonly schema: string;
  /**
   * Writes the message(s) with the caller's connection, so they join the caller's transaction:
   * they exist if and only if it commits. Returns the id of each message; for a message whose
   * (topic, idempotencyKey) was already enqueued, the first message's id (and nothing is written).
   * Invalid input throws a ValidationError before any SQL, leaving the transaction usable.
   */
  enqueue(db: Queryable, message: MessageInput): Promise<string>;
  enqueue(db: Queryable, messages: readonly MessageInput[]): Promise<string[]>;
}

export function createOutbox(options: OutboxOptions = {}): Outbox {
  const config = resolveOptions(options);
  const s = quoteIdent(config.schema);
  const insertSql = insertMessagesSql(s);
  const lookupSql = lookupIdempotencyKeysSql(s);

  async function enqueueMany(db: Queryable, input: readonly unknown[], routes?: readonly string[]): Promise<string[]> {
    if (input.length === 0) return [];
    let prepared = prepareMessages(input, config);
    if (routes !== undefined) prepared = withRoutes(prepared, routes);
    const trace = activeTraceHeaders();
    if (trace !== undefined) prepared = withTrace(prepared, trace);
    const { unique, sourceOf } = collapseIdempotencyKeys(prepared);
    const { rows } = await db.query(insertSql, insertValues(unique, config.idempotencyTtlMs));
    const ids = rows.map((row: { id: string | null }) => row.id);
    if (ids.includes(null)) await fillConcurrentWinners(db, lookupSql, rows, ids);
    signalEnqueued(config.schema);
    markEnqueued(db, config.schema);
    return sourceOf.map((index) => ids[index] as string);
  }

  function enqueue(db: Queryable, message: MessageInput): Promise<string>;
  function enqueue(db: Queryable, messages: readonly MessageInput[]): Promise<string[]>;
  async function enqueue(db: Queryable, input: MessageInput | readonly MessageInput[]): Promise<string | string[]> {
    if (Array.isArray(input)) return enqueueMany(db, input);
    const [id] = await enqueueMany(db, [input]);
    return id as string;
  }

  const outbox: Outbox = Object.freeze({ schema: config.schema, enqueue });
  routedEnqueuers.set(outbox, enqueueMany);
  return outbox;
}

type EnqueueMany = (db: Queryable, input: readonly unknown[], routes?: readonly string[]) => Promise<string[]>;
const routedEnqueuers = new WeakMap<Outbox, EnqueueMany>();

/**
 * For producer facades: enqueues messages that each carry an encoded route (see facade/route.ts),
 * stored in the reserved route header that enqueue() refuses from users. Same validation,
 * idempotency and transaction semantics as enqueue().
 */
export function enqueueRouted(outbox: Outbox, db: Queryable, messages: readonly MessageInput[], routes: readonly string[]): Promise<string[]> {
  const enqueueMany = routedEnqueuers.get(outbox);
  if (enqueueMany === undefined) throw new TypeError('enqueueRouted: outbox must come from createOutbox()');
  if (routes.length !== messages.length) throw new TypeError('enqueueRouted: one route per message');
  return enqueueMany(db, messages, routes);
}

function withRoutes(prepared: readonly PreparedMessage[], routes: readonly string[]): PreparedMessage[] {
  return prepared.map((message, index) => ({ ...message, headers: { ...message.headers, [Header.Route]: routes[index] as string } }));
}

/**
 * Stores the trace context active at enqueue (OpenTelemetry; see tracing/enqueue.ts) in each
 * message's headers, for the relay's send span. A header the message already has wins.
 */
function withTrace(prepared: readonly PreparedMessage[], trace: Readonly<Record<string, string>>): PreparedMessage[] {
  return prepared.map((message) => {
    const headers = addTraceHeaders(message.headers, trace);
    return headers === message.headers ? message : { ...message, headers };
  });
}

/** True for an outbox made by createOutbox() (the only kind enqueueRouted() accepts). */
export function isOutbox(value: unknown): value is Outbox {
  return typeof value === 'object' && value !== null && routedEnqueuers.has(value as Outbox);
}

/** The outbox enqueue() uses when no options are given. */
export function defaultOutbox(): Outbox {
  return (sharedDefault ??= createOutbox());
}

let sharedDefault: Outbox | undefined;

/** enqueue() with the default options (schema `postbox`). See Outbox.enqueue. */
export function enqueue(db: Queryable, message: MessageInput): Promise<string>;
export function enqueue(db: Queryable, messages: readonly MessageInput[]): Promise<string[]>;
export function enqueue(db: Queryable, input: MessageInput | readonly MessageInput[]): Promise<string | string[]> {
  const outbox = defaultOutbox();
  return Array.isArray(input) ? outbox.enqueue(db, input) : outbox.enqueue(db, input as MessageInput);
}

/**
 * Messages of one call that repeat an earlier message's (topic, idempotencyKey) are not sent to
 * the database (one INSERT cannot both insert and dedup a key); they get the earlier one's id.
 */
function collapseIdempotencyKeys(messages: readonly PreparedMessage[]): {
  unique: PreparedMessage[];
  sourceOf: number[];
} {
  const unique: PreparedMessage[] = [];
  const sourceOf: number[] = [];
  const seen = new Map<string, number>();
  for (const message of messages) {
    const dedupKey = message.idempotencyKey === null ? undefined : `${message.topic}\u0000${message.idempotencyKey}`;
    const earlier = dedupKey === undefined ? undefined : seen.get(dedupKey);
    if (earlier !== undefined) {
      sourceOf.push(earlier);
      continue;
    }
    if (dedupKey !== undefined) seen.set(dedupKey, unique.length);
    sourceOf.push(unique.length);
    unique.push(message);
  }
  return { unique, sourceOf };
}

function insertValues(messages: readonly PreparedMessage[], idempotencyTtlMs: number): unknown[] {
  return [
    messages.map((m) => m.id),
    messages.map((m) => m.topic),
    messages.map((m) => m.key),
    messages.map((m) => m.payload),
    messages.map((m) => m.contentType),
    messages.map((m) => JSON.stringify(m.headers)),
    messages.map((m) => m.correlationId),
    messages.map((m) => m.replyTo),
    messages.map((m) => m.idempotencyKey),
    messages.map((m) => m.deliverAt),
    messages.map((m) => m.delayMs),
    idempotencyTtlMs,
  ];
}

/**
 * A concurrent transaction committed the same idempotency key while our insert waited for it;
 * our statement's snapshot cannot see that row, a new statement can.
 */
async function fillConcurrentWinners(
  db: Queryable,
  sql: string,
  rows: Array<{ id: string | null; topic: string; idempotency_key: string }>,
  ids: Array<string | null>,
): Promise<void> {
  const missing = rows.filter((row) => row.id === null);
  const { rows: found } = await db.query(sql, [missing.map((r) => r.topic), missing.map((r) => r.idempotency_key)]);
  const byKey = new Map(found.map((r: { topic: string; idempotency_key: string; id: string }) => [`${r.topic}\u0000${r.idempotency_key}`, r.id]));
  rows.forEach((row, index) => {
    if (row.id === null) ids[index] = byKey.get(`${row.topic}\u0000${row.idempotency_key}`) ?? null;
  });
}

function resolveOptions(options: OutboxOptions): Required<OutboxOptions> {
  const problems: Problem[] = [];
  const allowed = new Set(Object.keys(OUTBOX_DEFAULTS));
  for (const field of Object.keys(options)) {
    if (!allowed.has(field)) problems.push({ field, message: `is not an outbox option; allowed: ${[...allowed].join(', ')}` });
  }
  const config = { ...OUTBOX_DEFAULTS, ...stripUndefined(options) };
  const schemaIssue = schemaProblem(config.schema);
  if (schemaIssue !== undefined) problems.push({ field: 'schema', message: schemaIssue });
  if (!Number.isSafeInteger(config.maxPayloadBytes) || config.maxPayloadBytes < 1) {
    problems.push({ field: 'maxPayloadBytes', message: `must be a positive integer, got ${String(config.maxPayloadBytes)}` });
  }
  if (!Number.isSafeInteger(config.idempotencyTtlMs) || config.idempotencyTtlMs < 1) {
    problems.push({ field: 'idempotencyTtlMs', message: `must be a positive integer of milliseconds, got ${String(config.idempotencyTtlMs)}` });
  }
  if (problems.length > 0) throw new ConfigError('outbox options', problems);
  return Object.freeze(config);
}

export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
