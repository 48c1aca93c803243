/**
 * At-least-once through relay crashes, exactly-once effects through the inbox, with Kafka: a relay
 * runs in a child process (fixtures/relay-child.ts, POSTBOX_CHILD_TRANSPORT=kafka) and is killed
 * with SIGKILL several times while a producer commits messages and a Kafka consumer with the inbox
 * middleware writes one side effect per message through ctx.tx. The child publishes each claimed
 * batch of 100 in produce requests of 10 (publishChunkSize) and sees each acknowledgement
 * ACK_DELAY_MS late (a slow acknowledgement path; against a local broker a whole batch is written
 * and settled within a few milliseconds otherwise), so a batch reaches the broker over several
 * requests before it is settled; each kill is timed for that moment (the relay holds a lease on
 * messages of which the consumer already received some). The next relay takes the batch
 * over when the lease expires and publishes it again: those messages arrive twice, with
 * postbox-publish-attempt > 1, and the inbox skips the repeats.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createKafkaConsumer, type KafkaConsumerEvent } from '../../adapters/kafka/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import { orderViolations } from '../helpers/order.js';
import { DATABASE_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { QUICK_GROUP, recordsIn, relayChildren } from './fixtures/kafka-kit.js';
import { deliveryLog, FAST_POLICY, interleaved, produce, rowCount } from './fixtures/rabbitmq-kit.js';

const KEYS = 5;
const PER_KEY = 400; // 2,000 messages
const LEASE_MS = 1_500;
/** The child holds each produce request's result this long after Kafka acknowledged it (a slow ack path). */
const ACK_DELAY_MS = 10;
/**
 * Kills that must hit a partly delivered batch, tried at most MAX_KILLS times: the first after
 * FIRST_KILL_AT distinct deliveries, then every KILL_EVERY more.
 */
const KILLS = 4;
const MAX_KILLS = 8;
const FIRST_KILL_AT = 200;
const KILL_EVERY = 150;

const { pool, freshSchema } = useDatabase();
const children = relayChildren();

let admin: TopicAdmin;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin.close();
});

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  // No child survives the test, whatever happened.
  await children.killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await admin.cleanup();
});

it('delivers every committed message and applies each effect exactly once while the Kafka relay process is killed mid-batch again and again', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL, key text NOT NULL, n integer NOT NULL)`);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });
  const topic = randomTopic('crash');
  const groupId = randomTopic('crash-group');
  await admin.create([topic], 3);
  admin.track(`${topic}.retry`, `${topic}.dead`);

  const log = deliveryLog();
  const consumerEvents: KafkaConsumerEvent[] = [];
  let skipped = 0;
  const consumer = createKafkaConsumer({
    brokers: KAFKA_BROKERS,
    groupId,
    topics: [topic],
    ...QUICK_GROUP,
    partitionsConsumedConcurrently: 3,
    policies: FAST_POLICY,
    onEvent: (e) => consumerEvents.push(e),
    middleware: [log.middleware, inboxMiddleware({ inbox, onDuplicate: () => (skipped += 1) })],
    handler: async (m, context) => {
      const { key, n } = m.json<{ key: string; n: number }>();
      await context.tx!.query(`INSERT INTO "${schema}".effects (message_id, key, n) VALUES ($1, $2, $3)`, [m.id, key, n]);
    },
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();

  let generation = 0;
  const childSettings = () => ({
    TRANSPORT: 'kafka',
    DATABASE_URL,
    KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    KAFKA_CLIENT_ID: `postbox-crash-relay-${generation}`,
    SCHEMA: schema,
    RELAY_ID: `kafka-crash-relay-${generation}`,
    ROUTES: JSON.stringify({ 'crash.#': { topic } }),
    LEASE_MS: String(LEASE_MS),
    BATCH_SIZE: '100',
    CHUNK_SIZE: '10',
    ACK_DELAY_MS: String(ACK_DELAY_MS),
  });
  let testOver = false;
  cleanups.push(() => (testOver = true));
  let produced = false;
  const messages = interleaved(KEYS, PER_KEY, 'key').map(({ key, n }) => ({ topic: 'crash.item', key, payload: { key, n } }));
  // The producer starts while the first relay boots, so the relay starts behind and claims full batches.
  const producing = produce(messages, {
    perTransaction: 10,
    maxBacklog: 400,
    delivered: () => log.ids.size,
    enqueue: (batch) => outbox.enqueue(pool, batch),
    stopped: () => testOver,
  }).finally(() => (produced = true));
  let relay = await children.start(childSettings());

  /** Per kill: rows the dead relay still held, and those of them the consumer had already received. */
  const kills: Array<{ leased: number; sent: string[] }> = [];
  const effective = () => kills.filter((k) => k.sent.length > 0).length;
  const leasedIds = async (): Promise<string[]> =>
    (await pool.query(`SELECT o.id::text AS id FROM "${schema}".outbox o JOIN "${schema}".outbox_leases l ON l.seq = o.seq WHERE l.until > now()`)).rows.map(
      (r: { id: string }) => r.id,
    );
  const killing = (async () => {
    let threshold = FIRST_KILL_AT;
    while (effective() < KILLS && kills.length < MAX_KILLS) {
      // Kill in the middle of a batch: the relay holds a lease on messages of which the consumer already received some.
      const moment = await waitFor(
        `a leased batch partly delivered, after ${threshold} messages`,
        async () => {
          if (produced && log.ids.size >= messages.length) return 'too late';
          return log.ids.size >= threshold && (await leasedIds()).some((id) => log.ids.has(id)) ? 'now' : false;
        },
        { timeoutMs: 30_000, intervalMs: 1 },
      );
      if (moment === 'too late') return;
      await children.kill(relay, 'SIGKILL');
      const leased = await leasedIds(); // the dead relay was the only one
      kills.push({ leased: leased.length, sent: leased.filter((id) => log.ids.has(id)) });
      threshold = log.ids.size + KILL_EVERY;
      generation += 1;
      relay = await children.start(childSettings());
    }
  })();
  const [ids] = await Promise.all([producing, killing]);
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitFor(`all ${ids.length} messages to be delivered`, () => ids.every((id) => log.ids.has(id)), { timeoutMs: 40_000, intervalMs: 50 });
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);
  await waitFor('every effect to be committed', async () => (await rowCount(pool, schema, 'inbox')) === ids.length);
  await children.kill(relay, 'SIGTERM');
  expect(relay.exitCode).toBe(0); // the last relay stopped cleanly

  const duplicates = log.duplicates();
  const reclaimed = log.all.filter((d) => d.publishAttempt > 1);
  const onTheWire = await recordsIn(admin, topic);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `kafka crash: ${ids.length} messages, ${onTheWire} records, ${log.all.length} deliveries, ${duplicates} duplicates (${skipped} skipped by the inbox), ` +
      `${kills.length} kills leaving ${kills.map((k) => `${k.leased}/${k.sent.length}`).join(', ')} leased/already delivered rows, ` +
      `${reclaimed.length} deliveries of re-claimed messages, ${seconds} s`,
  );

  // Exactly-once effects: one row per message, no more, no less.
  const { rows } = await pool.query(`SELECT count(*)::int AS total, count(DISTINCT message_id)::int AS distinct FROM "${schema}".effects`);
  expect(rows[0]).toEqual({ total: ids.length, distinct: ids.length });
  const { rows: missing } = await pool.query(
    `SELECT count(*)::int AS n FROM unnest($1::text[]) AS m(id) WHERE NOT EXISTS (SELECT 1 FROM "${schema}".effects e WHERE e.message_id = m.id)`,
    [ids],
  );
  expect(missing[0].n).toBe(0);
  // The crash path really ran: at least 3 kills left a leased batch of which the consumer already
  // had some messages (a kill that lost the race with the settle is just a restart); after the
  // lease expired the next relay published those batches again, so those messages are on the
  // topic twice, arrived twice, with publish attempt > 1 on the wire.
  const orphaned = kills.reduce((sum, k) => sum + k.leased, 0);
  const sentBeforeKill = kills.flatMap((k) => k.sent);
  expect(effective(), `leased/delivered rows per kill: ${kills.map((k) => `${k.leased}/${k.sent.length}`).join(', ')}`).toBeGreaterThanOrEqual(3);
  const deliveriesOf = new Map<string, number>();
  for (const d of log.all) deliveriesOf.set(d.id, (deliveriesOf.get(d.id) ?? 0) + 1);
  const notRepeated = sentBeforeKill.filter((id) => (deliveriesOf.get(id) ?? 0) < 2);
  expect(notRepeated, 'delivered before a kill, still leased by the dead relay, but not delivered again').toEqual([]);
  expect(reclaimed.length).toBeGreaterThanOrEqual(orphaned);
  expect(duplicates).toBeGreaterThanOrEqual(sentBeforeKill.length);
  expect(onTheWire).toBeGreaterThanOrEqual(ids.length + sentBeforeKill.length);
  expect(skipped).toBe(duplicates);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(consumerEvents.filter((e) => e.type !== 'consumer:crashed')).toEqual([]); // no handler failed: nothing retried or dead-lettered
  // Order survives the crashes too: first deliveries per key in commit order.
  const order = log.all.map((d) => d.payload as { key: string; n: number });
  expect(orderViolations(order).slice(0, 10)).toEqual([]);
  expect(children.running.size).toBe(0);
});
