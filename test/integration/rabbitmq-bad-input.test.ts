/**
 * "Bad input gets a clear error and loses nothing" (guarantees.md), on the whole path with real
 * PostgreSQL and RabbitMQ: each bad input throws an error that names the field and says what to
 * do, writes nothing, leaves the caller's transaction usable, and a running relay keeps
 * publishing every other message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRabbitMQConnection,
  createRabbitMQConsumer,
  createRabbitMQTransport,
  type RabbitMQConnection,
  type RabbitMQTransport,
} from '../../adapters/rabbitmq/index.js';
import { withTransaction, type Queryable } from '../../src/db/queryable.js';
import { migrate } from '../../src/db/migrate.js';
import { ConfigError, ErrorCode, ValidationError, type Problem } from '../../src/errors.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { silentLogger } from '../../src/logger.js';
import type { MessageInput } from '../../src/message.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import type { RelayEvents } from '../../src/relay/events.js';
import { useDatabase } from '../helpers/db.js';
import { startCountedRelay, useCleanups, waitForRelayIdle } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';
import { deliveryLog, FAST_POLICY, rowCount } from './fixtures/rabbitmq-kit.js';

const MAX_PAYLOAD_BYTES = 1_024;

const { pool, freshSchema } = useDatabase();

let admin: Admin;
beforeAll(async () => {
  admin = await createAdmin();
});
afterAll(async () => {
  await admin.close();
});
const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  readonly connection: RabbitMQConnection;
  readonly transport: RabbitMQTransport;
  readonly relay: Relay;
  readonly log: ReturnType<typeof deliveryLog>;
  readonly settled: Array<RelayEvents['relay:batch-settled']>;
  /** Waits until the outbox is empty and the relay found nothing more in two claims. */
  idle(): Promise<void>;
}

/**
 * A fresh schema, an exchange bound to a queue for events.#, a running relay (routes: events.# ->
 * the exchange, plus `routes`) and a consumer recording what arrives.
 */
async function world(options: { routes?: Record<string, { exchange: string }>; policies?: object } = {}): Promise<World> {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema, maxPayloadBytes: MAX_PAYLOAD_BYTES });
  const exchange = randomName('bad-x');
  const queue = randomName('bad-q');
  admin.track('exchange', exchange);
  admin.track('queue', queue, `${queue}.dead`, `${queue}.retry.100`);
  const connection = createRabbitMQConnection({
    url: RABBITMQ_URL,
    connectionName: randomName('bad-input'),
    topology: {
      exchanges: [{ name: exchange, type: 'topic', durable: false }],
      queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: 'events.#' }] }],
    },
  });
  cleanups.push(() => connection.close());
  const transport = createRabbitMQTransport({ connection, routes: { 'events.#': { exchange }, ...options.routes } });
  cleanups.push(() => transport.close());
  const settled: Array<RelayEvents['relay:batch-settled']> = [];
  const { relay, claims } = await startCountedRelay(pool, schema, transport, cleanups, { policies: options.policies ?? FAST_POLICY }, (r) =>
    r.on('relay:batch-settled', (e) => settled.push(e)),
  );
  const log = deliveryLog();
  const consumer = createRabbitMQConsumer({
    connection,
    queue,
    retry: { tiersMs: [100] },
    middleware: [log.middleware],
    handler: async () => undefined,
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 1_000 }));
  await consumer.start();
  return {
    schema,
    outbox,
    connection,
    transport,
    relay,
    log,
    settled,
    idle: () => waitForRelayIdle(pool, schema, claims),
  };
}

/** The problems of a ValidationError / ConfigError thrown by fn, failing when it threw anything else. */
async function problemsOf(fn: () => unknown, kind: typeof ValidationError | typeof ConfigError): Promise<{ error: Error; problems: readonly Problem[] }> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected an error').toBeInstanceOf(kind);
  const error = thrown as ValidationError | ConfigError;
  expect(error.code).toBe(kind === ValidationError ? ErrorCode.Validation : ErrorCode.Config);
  return { error, problems: error.problems };
}

const cyclic = (): Record<string, unknown> => {
  const node: Record<string, unknown> = { name: 'node' };
  node.self = node;
  return node;
};

/** Each bad message, the field its error names, and what the message must say (the problem and what to do). */
const BAD_MESSAGES: Array<[string, () => unknown, string, RegExp[]]> = [
  ['a BigInt in the payload', () => ({ topic: 'events.bad', payload: { amount: 10n } }), 'message.payload', [/BigInt/, /convert BigInt values to strings/]],
  ['a payload with a cycle', () => ({ topic: 'events.bad', payload: cyclic() }), 'message.payload', [/circular/i, /remove circular references/]],
  [
    `a payload over maxPayloadBytes (${MAX_PAYLOAD_BYTES})`,
    () => ({ topic: 'events.bad', payload: { blob: 'x'.repeat(2 * MAX_PAYLOAD_BYTES) } }),
    'message.payload',
    [/over the limit of 1024 \(maxPayloadBytes\)/, /send a reference/],
  ],
  ['an empty topic', () => ({ topic: '', payload: {} }), 'message.topic', [/must not be empty/, /dot-separated words such as "orders.created"/]],
  ['a topic with an empty word', () => ({ topic: 'events..bad', payload: {} }), 'message.topic', [/empty words/, /dot-separated words/]],
  ['a topic with a wildcard', () => ({ topic: 'events.*', payload: {} }), 'message.topic', [/'\*' or '#'/, /only for patterns/]],
  ['a topic with whitespace', () => ({ topic: 'events.bad topic', payload: {} }), 'message.topic', [/whitespace/, /dot-separated words/]],
  ['a topic that is not a string', () => ({ topic: 42, payload: {} }), 'message.topic', [/must be a string/, /"orders.created"/]],
  [
    'a header value that is not a string',
    () => ({ topic: 'events.bad', payload: {}, headers: { 'x-count': 3 } }),
    'message.headers.x-count',
    [/header values must be strings, got number 3/, /String\(value\)/],
  ],
];

describe('rabbitmq bad input: messages', () => {
  it.each(BAD_MESSAGES)(
    'refuses %s: names the field, writes nothing, the transaction goes on and the relay publishes the rest',
    async (_name, bad, field, says) => {
      const w = await world();
      const good = (n: number): MessageInput => ({ topic: 'events.good', key: 'good', payload: { n } });
      const count = (tx: Queryable) => tx.query(`SELECT count(*)::int AS n FROM "${w.schema}".outbox`).then((r) => r.rows[0].n as number);

      const ids = await withTransaction(pool, async (tx) => {
        const before = await w.outbox.enqueue(tx, good(1));
        const { error, problems } = await problemsOf(() => w.outbox.enqueue(tx, bad() as MessageInput), ValidationError);
        expect(problems.map((p) => p.field)).toEqual([field]);
        for (const pattern of says) expect(problems[0]!.message).toMatch(pattern);
        expect(error.message).toContain(field);
        expect(await count(tx)).toBe(1); // no partial write
        // The same bad message inside a batch: the whole call is refused, nothing of it is written.
        const inBatch = await problemsOf(() => w.outbox.enqueue(tx, [good(99), bad() as MessageInput]), ValidationError);
        expect(inBatch.problems.map((p) => p.field)).toEqual([field.replace(/^message\b/, 'messages[1]')]);
        expect(await count(tx)).toBe(1);
        const after = await w.outbox.enqueue(tx, good(2)); // the transaction is still usable
        return [before, after];
      });

      await waitFor('both good messages', () => ids.every((id) => w.log.ids.has(id)));
      await w.idle();
      expect(w.log.all.map((d) => [d.id, d.payload])).toEqual([
        [ids[0], { n: 1 }],
        [ids[1], { n: 2 }],
      ]);
      expect(await rowCount(pool, w.schema, 'dead_letters')).toBe(0);
    },
  );
});

describe('rabbitmq bad input: what the broker cannot take', () => {
  it('fails only the messages routed to a missing exchange and dead-letters them naming it; the rest of the batch is published', async () => {
    const missing = randomName('bad-missing-x');
    admin.track('exchange', missing); // never declared; tracked in case a bug creates it
    const w = await world({
      routes: { 'ghost.#': { exchange: missing } },
      policies: { ...FAST_POLICY, topics: { 'ghost.#': { maxAttempts: 3, backoff: { initialMs: 5, multiplier: 1, maxMs: 5, jitter: 'none' } } } },
    });
    const [first, ghost, second] = await w.outbox.enqueue(pool, [
      { topic: 'events.first', key: 'a', payload: { n: 1 } },
      { topic: 'ghost.created', key: 'g', payload: { n: 2 } },
      { topic: 'events.second', key: 'b', payload: { n: 3 } },
    ]);

    await waitFor('the two routable messages', () => w.log.ids.has(first!) && w.log.ids.has(second!));
    // One transaction, one claim: the batch held all three; two were published, the ghost failed.
    const firstBatch = await waitFor('the first batch to settle', () => w.settled[0]);
    expect(firstBatch).toMatchObject({ published: 2, retried: 1, dead: 0, released: 0 });

    const dead = await waitFor('the dead letter', () => createDeadLetters({ pool, schema: w.schema }).show(ghost!));
    expect(dead).toMatchObject({ id: ghost, topic: 'ghost.created', attempts: 3, reason: 'unroutable' });
    expect(dead.errors).toHaveLength(3);
    for (const error of dead.errors) {
      expect(error.code).toBe(ErrorCode.DestinationNotFound);
      expect(error.message).toContain(`exchange "${missing}"`);
      expect(error.message).toMatch(/declare it in topology\.exchanges or create it on the broker, or fix the route/);
    }
    expect(await admin.exchangeExists(missing)).toBe(false);

    // The relay (and its shared channel) keeps working for everything else.
    const later = await w.outbox.enqueue(pool, { topic: 'events.later', key: 'a', payload: { n: 4 } });
    await waitFor('a message enqueued after the dead letter', () => w.log.ids.has(later));
    await w.idle();
    expect(w.log.all.map((d) => d.id).sort()).toEqual([first, second, later].sort());
    expect(w.relay.running).toBe(true);
  });

  it('refuses at enqueue headers too large for a broker header table, naming the field', async () => {
    const w = await world();
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, 'v'.repeat(2_000)]));
    const error = await w.outbox
      .enqueue(pool, [{ topic: 'events.first', payload: 1 }, { topic: 'events.huge', payload: 2, headers }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toEqual([
      { field: 'messages[1].headers', message: expect.stringMatching(/at most 16384 bytes .*put large data in the payload/) },
    ]);
    expect(Number((await pool.query(`SELECT count(*) FROM "${w.schema}".outbox`)).rows[0].count)).toBe(0);
  });

  it('dead-letters at once a row whose headers AMQP cannot encode (written around enqueue), naming the cause; the rest of the batch is published', async () => {
    const w = await world();
    let disconnects = 0;
    w.connection.on('disconnected', () => (disconnects += 1));
    // Too big for one AMQP header table; enqueue refuses it, so write the row directly, as an
    // older producer or a hand-written INSERT could: the relay must still cope.
    const headers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, 'v'.repeat(2_000)]));
    const [first] = await w.outbox.enqueue(pool, [{ topic: 'events.first', key: 'a', payload: { n: 1 } }]);
    const huge = '01a1fe00-0000-7000-8000-000000000001';
    await pool.query(
      `INSERT INTO "${w.schema}".outbox (id, topic, key, payload, content_type, headers) VALUES ($1, 'events.huge', 'h', '{"n":2}', 'application/json', $2)`,
      [huge, JSON.stringify(headers)],
    );
    const [second] = await w.outbox.enqueue(pool, [{ topic: 'events.second', key: 'b', payload: { n: 3 } }]);

    const dead = await waitFor('the dead letter', () => createDeadLetters({ pool, schema: w.schema }).show(huge!));
    expect(dead).toMatchObject({ reason: 'permanent-error', attempts: 1, headers });
    expect(dead.lastError).toMatch(/cannot be encoded as an AMQP message .*keep its headers well under 64 KiB/);
    await waitFor('the rest of the batch', () => w.log.ids.has(first!) && w.log.ids.has(second!));
    await w.idle();
    expect(w.log.all.map((d) => d.id).sort()).toEqual([first, second].sort());
    expect(disconnects).toBe(0);
  });
});

describe('rabbitmq bad input: configuration', () => {
  it('refuses unknown policy fields in createRelay with a ConfigError listing them together with every other problem', async () => {
    const schema = await freshSchema();
    const transport = createRabbitMQTransport({ url: RABBITMQ_URL, connectionName: randomName('bad-config') });
    cleanups.push(() => transport.close());
    const { error, problems } = await problemsOf(
      () =>
        createRelay({
          pool,
          schema,
          transport,
          logger: silentLogger,
          batchSize: 0,
          pollIntervalMs: 10,
          policies: {
            default: { maxAtempts: 3, backoff: { initalMs: 10 } },
            topics: { 'orders.*': { ordering: 'random' } },
          },
        } as never),
      ConfigError,
    );
    const byField = Object.fromEntries(problems.map((p) => [p.field, p.message]));
    expect(Object.keys(byField).sort()).toEqual(
      ['batchSize', 'pollIntervalMs', 'policies.default.backoff.initalMs', 'policies.default.maxAtempts', 'policies.topics["orders.*"].ordering'].sort(),
    );
    expect(byField['policies.default.maxAtempts']).toMatch(/not a known field; did you mean "maxAttempts"\?/);
    expect(byField['policies.default.backoff.initalMs']).toMatch(/did you mean "initialMs"\?/);
    expect(byField['policies.topics["orders.*"].ordering']).toMatch(/must be one of "key", "none"/);
    expect(byField.batchSize).toMatch(/must be an integer >= 1, got 0/);
    expect(byField.pollIntervalMs).toMatch(/is not a relay option; allowed: .*minPollIntervalMs/);
    expect(error.message).toMatch(/5 problems/);
    // Nothing started: no relay registered, no broker connection opened.
    expect(await rowCount(pool, schema, 'relays')).toBe(0);
    expect(transport.connection.isConnected).toBe(false);
  });

  it.each([
    ['upper case', 'Orders'],
    ['SQL in the name', 'postbox"; DROP SCHEMA public CASCADE; --'],
    ['a dash', 'my-app'],
    ['a leading digit', '1postbox'],
    ['64 characters', `s${'x'.repeat(63)}`],
    ['an empty name', ''],
  ])('refuses a schema name that is not a plain identifier (%s) everywhere, before touching the database', async (_name, schema) => {
    const transport = createRabbitMQTransport({ url: RABBITMQ_URL, connectionName: randomName('bad-schema') });
    cleanups.push(() => transport.close());
    const attempts: Array<[string, () => unknown]> = [
      ['migrate', () => migrate(pool, { schema })],
      ['createOutbox', () => createOutbox({ schema })],
      ['createRelay', () => createRelay({ pool, schema, transport, logger: silentLogger })],
      ['createInbox', () => createInbox({ pool, schema })],
      ['createDeadLetters', () => createDeadLetters({ pool, schema })],
    ];
    for (const [call, attempt] of attempts) {
      const { problems } = await problemsOf(attempt, ConfigError);
      expect(problems, call).toEqual([{ field: 'schema', message: expect.stringMatching(/must be a plain identifier \(lower-case letters, digits and _/) }]);
    }
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(rows[0].n).toBe(0);
    expect(transport.connection.isConnected).toBe(false);
  });

  it.each([
    ['a host that is not a host', 'amqp://guest:s3cret-pw@[not a host]:5672/'],
    ['a port that is not a number', 'amqp://guest:s3cret-pw@localhost:56x72'],
    ['a password with an unencoded /', 'amqp://guest:s3cret/pw@localhost:5672/vhost'],
    ['a password with an unencoded #', 'amqp://guest:s3cret#pw@localhost:5672'],
    ['a password with an unencoded space', 'amqp://guest:s3cret pw@local host:5672'],
    ['no host at all', 'amqp://guest:s3cret-pw@'],
    ['the wrong scheme', 'http://guest:s3cret-pw@localhost:5672'],
    ["a scheme without '//'", 'amqp:guest:s3cret-pw@localhost:5672'],
    ["a scheme with a single '/'", 'amqp:/guest:s3cret-pw@localhost:5672'],
  ])('refuses a broker URL with %s: ConfigError naming url, without the password', async (_name, url) => {
    const attempts: Array<[string, () => unknown]> = [
      ['createRabbitMQConnection', () => createRabbitMQConnection({ url })],
      ['createRabbitMQTransport', () => createRabbitMQTransport({ url })],
      ['createRabbitMQConsumer', () => createRabbitMQConsumer({ url, queue: 'q', handler: async () => undefined })],
    ];
    for (const [call, attempt] of attempts) {
      const { error, problems } = await problemsOf(attempt, ConfigError);
      expect(problems.map((p) => p.field), call).toEqual(problems.map(() => 'url'));
      expect(problems.length, call).toBeGreaterThan(0);
      expect(problems[0]!.message, call).toMatch(/amqp:\/\/user:password@host:5672\/vhost|must use the amqp:\/\/ or amqps:\/\/ scheme/);
      expect(error.message, `${call}: the password leaked`).not.toContain('s3cret');
      expect(JSON.stringify(problems), `${call}: the password leaked`).not.toContain('s3cret');
    }
  });
});
