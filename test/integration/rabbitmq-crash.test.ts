/**
 * At-least-once through relay crashes, exactly-once effects through the inbox: a relay runs in a
 * child process (fixtures/relay-child.ts) and is killed with SIGKILL several times while a
 * producer commits messages and a consumer with the inbox middleware writes one side effect per
 * message. Each kill is timed for the middle of a batch (the relay holds a lease on messages of
 * which the consumer already received some), so it leaves a leased batch behind that is partly on
 * the broker; the next relay takes it over when the lease expires and publishes it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { createRabbitMQConnection, createRabbitMQConsumer } from '../../adapters/rabbitmq/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { useDatabase } from '../helpers/db.js';
import { DATABASE_URL } from '../helpers/services.js';
import { orderViolations } from '../helpers/order.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName } from '../conformance/rabbitmq-tools.js';
import { deliveryLog, FAST_POLICY, interleaved, produce, rowCount } from './fixtures/rabbitmq-kit.js';

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));
const RELAY_CHILD = fileURLToPath(new URL('./fixtures/relay-child.ts', import.meta.url));

const KEYS = 5;
const PER_KEY = 400; // 2,000 messages
const LEASE_MS = 1_500;
/**
 * Kills that must hit a partly delivered batch, tried at most MAX_KILLS times: the first after
 * FIRST_KILL_AT distinct deliveries, then every KILL_EVERY more.
 */
const KILLS = 4;
const MAX_KILLS = 8;
const FIRST_KILL_AT = 200;
const KILL_EVERY = 150;

const { pool, freshSchema } = useDatabase();

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  // No child survives the test, whatever happened.
  await Promise.all([...children].map((child) => killChild(child, 'SIGKILL')));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts the relay child and resolves once it printed its ready line. */
async function startRelayChild(settings: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', RELAY_CHILD], {
    cwd: REPOSITORY,
    env: { ...process.env, ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [`POSTBOX_CHILD_${k}`, v])) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay child did not get ready within 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes(`ready ${settings.RELAY_ID}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the relay child exited (${code ?? signal}) before it was ready; stderr: ${stderr}`));
    });
  });
  return child;
}

it('delivers every committed message and applies each effect exactly once while the relay process is killed mid-batch again and again', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL, key text NOT NULL, n integer NOT NULL)`);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });

  const admin = await createAdmin();
  cleanups.push(() => admin.close());
  cleanups.push(() => admin.cleanup());
  const exchange = await admin.exchange(randomName('crash-x'), 'topic');
  const queue = await admin.queue(randomName('crash-q'));
  admin.track('queue', `${queue}.dead`, `${queue}.retry.100`);
  await (await admin.channel()).bindQueue(queue, exchange, 'crash.#');

  const connection = createRabbitMQConnection({ url: RABBITMQ_URL, connectionName: randomName('crash-consumer') });
  cleanups.push(() => connection.close());
  const log = deliveryLog();
  let skipped = 0;
  const consumer = createRabbitMQConsumer({
    connection,
    queue,
    prefetch: 50,
    retry: { tiersMs: [100] },
    policies: FAST_POLICY,
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
    DATABASE_URL,
    RABBITMQ_URL,
    SCHEMA: schema,
    RELAY_ID: `crash-relay-${generation}`,
    ROUTES: JSON.stringify({ 'crash.#': { exchange } }),
    CONNECTION_NAME: randomName('crash-relay'),
    LEASE_MS: String(LEASE_MS),
    BATCH_SIZE: '100',
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
  let relay = await startRelayChild(childSettings());

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
      // Kill in the middle of a batch: the relay holds a lease on messages of which the broker already delivered some.
      const moment = await waitFor(
        `a leased batch partly delivered, after ${threshold} messages`,
        async () => {
          if (produced && log.ids.size >= messages.length) return 'too late';
          return log.ids.size >= threshold && (await leasedIds()).some((id) => log.ids.has(id)) ? 'now' : false;
        },
        { timeoutMs: 30_000, intervalMs: 1 },
      );
      if (moment === 'too late') return;
      await killChild(relay, 'SIGKILL');
      const leased = await leasedIds(); // the dead relay was the only one
      kills.push({ leased: leased.length, sent: leased.filter((id) => log.ids.has(id)) });
      threshold = log.ids.size + KILL_EVERY;
      generation += 1;
      relay = await startRelayChild(childSettings());
    }
  })();
  const [ids] = await Promise.all([producing, killing]);
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitFor(`all ${ids.length} messages to be delivered`, () => ids.every((id) => log.ids.has(id)), { timeoutMs: 40_000, intervalMs: 50 });
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);
  await waitFor('every effect to be committed', async () => (await rowCount(pool, schema, 'inbox')) === ids.length);
  await killChild(relay, 'SIGTERM');

  const duplicates = log.duplicates();
  const reclaimed = log.all.filter((d) => d.publishAttempt > 1);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `crash: ${ids.length} messages, ${log.all.length} deliveries, ${duplicates} duplicates (${skipped} skipped by the inbox), ` +
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
  // lease expired the next relay published those batches again, so those messages arrived twice,
  // with publish attempt > 1 on the wire.
  const orphaned = kills.reduce((sum, k) => sum + k.leased, 0);
  const sentBeforeKill = kills.flatMap((k) => k.sent);
  expect(effective(), `leased/delivered rows per kill: ${kills.map((k) => `${k.leased}/${k.sent.length}`).join(', ')}`).toBeGreaterThanOrEqual(3);
  const deliveriesOf = new Map<string, number>();
  for (const d of log.all) deliveriesOf.set(d.id, (deliveriesOf.get(d.id) ?? 0) + 1);
  const notRepeated = sentBeforeKill.filter((id) => (deliveriesOf.get(id) ?? 0) < 2);
  expect(notRepeated, 'delivered before a kill, still leased by the dead relay, but not delivered again').toEqual([]);
  expect(reclaimed.length).toBeGreaterThanOrEqual(orphaned);
  expect(duplicates).toBeGreaterThanOrEqual(sentBeforeKill.length);
  expect(skipped).toBe(duplicates);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  // Order survives the crashes too: first deliveries per key in commit order.
  const order = log.all.map((d) => d.payload as { key: string; n: number });
  expect(orderViolations(order).slice(0, 10)).toEqual([]);
  expect(children.size).toBe(0);
});
