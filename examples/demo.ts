/**
 * npm run demo: the whole story against the real PostgreSQL and RabbitMQ on this machine.
 *
 * 1. enqueue in a transaction that commits, and in one that rolls back;
 * 2. the relay publishes what committed, with RabbitMQ's confirm;
 * 3. a consumer processes it exactly once through the inbox;
 * 4. a handler failure is retried with backoff, then succeeds;
 * 5. a message nobody can route is retried, dead-lettered with its history, then replayed.
 *
 * Uses a throwaway schema and queues, removed at the end. DATABASE_URL and POSTBOX_RABBITMQ_URL
 * override the defaults (loopback, as `bash scripts/services.sh` starts them).
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import pg from 'pg';
import {
  createDeadLetters,
  createInbox,
  createOutbox,
  createRelay,
  inboxMiddleware,
  migrate,
  silentLogger,
  withTransaction,
} from '../src/index.js';
import { createRabbitMQConsumer, createRabbitMQTransport } from '../adapters/rabbitmq/index.js';
import { redactUrl } from '../src/redact.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RABBITMQ_URL = process.env.POSTBOX_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = randomBytes(3).toString('hex');
const schema = `demo_${run}`;
const exchange = `demo.orders.${run}`;
const queue = `demo.billing.${run}`;
const started = Date.now();

function say(step: string, detail = ''): void {
  const t = ((Date.now() - started) / 1000).toFixed(2).padStart(6);
  process.stdout.write(`${t}s  ${step}${detail ? `  ${detail}` : ''}\n`);
}

function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = async (): Promise<void> => {
      if (await check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`demo: timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    void tick();
  });
}

async function main(): Promise<void> {
  say('postbox demo', `database ${redactUrl(DATABASE_URL)}, broker ${redactUrl(RABBITMQ_URL)}`);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 });
  pool.on('error', () => undefined);
  await migrate(pool, { schema });
  await pool.query(`CREATE TABLE ${schema}.orders (id text PRIMARY KEY, state text NOT NULL)`);
  await pool.query(`CREATE TABLE ${schema}.invoices (order_id text PRIMARY KEY, amount numeric NOT NULL)`);
  say('migrated', `schema ${schema}`);

  const topology = {
    exchanges: [{ name: exchange, type: 'topic' as const }],
    queues: [{ name: queue, bindings: [{ exchange, pattern: 'orders.#' }] }],
  };
  const routes = { 'orders.#': { exchange }, 'shipping.#': { exchange } };
  const transport = createRabbitMQTransport({ url: RABBITMQ_URL, topology, routes });
  const outbox = createOutbox({ schema });
  const policies = {
    default: { maxAttempts: 3, backoff: { initialMs: 200, multiplier: 2, maxMs: 1_000 } },
  };

  // 1. Producing: the message joins the business transaction.
  await withTransaction(pool, async (tx) => {
    await tx.query(`INSERT INTO ${schema}.orders VALUES ('o-1', 'paid')`);
    await outbox.enqueue(tx, { topic: 'orders.paid', key: 'o-1', payload: { orderId: 'o-1', amount: 42 } });
  });
  say('committed', 'order o-1 paid + message orders.paid, in one transaction');
  await withTransaction(pool, async (tx) => {
    await tx.query(`INSERT INTO ${schema}.orders VALUES ('o-2', 'paid')`);
    await outbox.enqueue(tx, { topic: 'orders.paid', key: 'o-2', payload: { orderId: 'o-2', amount: 7 } });
    throw new Error('payment declined');
  }).catch(() => say('rolled back', 'order o-2 and its message: neither exists'));
  await outbox.enqueue(pool, { topic: 'shipping.requested', key: 'o-1', payload: { orderId: 'o-1' } });
  say('committed', 'shipping.requested, routed to an exchange with no queue bound for it');

  // 2. Relaying.
  const relay = createRelay({ pool, transport, schema, policies, logger: silentLogger, maxPollIntervalMs: 100 });
  relay.on('relay:batch-settled', (b) => b.published > 0 && say('relay', `${b.published} published with broker confirm`));
  relay.on('message:retry-scheduled', (m) => say('relay', `${m.topic} attempt ${m.attempt} failed (${m.error.split(':')[0]}); retry in ${m.delayMs} ms`));
  relay.on('message:dead-lettered', (m) => say('relay', `${m.topic} dead-lettered after ${m.attempt} attempts: ${m.reason}`));
  await relay.start();

  // 3. Consuming, exactly once through the inbox; the first attempt fails on purpose.
  const inbox = createInbox({ pool, schema });
  let calls = 0;
  const consumer = createRabbitMQConsumer({
    url: RABBITMQ_URL,
    queue,
    consumer: 'billing',
    policies,
    retry: { tiersMs: [300, 1_000] },
    middleware: [inboxMiddleware({ inbox, onDuplicate: (id) => say('consumer', `duplicate ${id} skipped`) })],
    handler: async (message, context) => {
      if (message.topic === 'shipping.requested') {
        say('consumer', `${message.topic} ${message.json<{ orderId: string }>().orderId}: received after replay (id ${message.id})`);
        return;
      }
      calls++;
      const { orderId, amount } = message.json<{ orderId: string; amount: number }>();
      if (calls === 1) {
        say('consumer', `${message.topic} ${orderId}: billing service timed out (attempt ${message.attempt})`);
        throw new Error('billing service timed out');
      }
      await context.tx?.query(`INSERT INTO ${schema}.invoices VALUES ($1, $2)`, [orderId, amount]);
      say('consumer', `${message.topic} ${orderId}: invoice written (attempt ${message.attempt})`);
    },
  });
  await consumer.start();

  const invoices = async (): Promise<number> => Number((await pool.query(`SELECT count(*) FROM ${schema}.invoices`)).rows[0].count);
  const dead = createDeadLetters({ pool, schema });
  await until('the invoice', async () => (await invoices()) === 1);
  await until('the dead letter', async () => (await dead.count()) === 1);
  const [letter] = await dead.list();
  const full = letter === undefined ? undefined : await dead.show(letter.id);
  say('dead letters', `${letter?.topic}: ${letter?.reason}, ${full?.errors.length} errors kept, last: ${letter?.lastError}`);

  // 5. Fix the routing, then replay.
  const admin = await amqp.connect(RABBITMQ_URL);
  const channel = await admin.createChannel();
  await channel.bindQueue(queue, exchange, 'shipping.#');
  const replayed = await dead.replay({ topic: 'shipping.#' });
  say('replayed', `${replayed.count} dead letter back to the outbox (same id ${replayed.replayed[0]?.id})`);
  await until('the replayed message', async () =>
    (await pool.query(`SELECT 1 FROM ${schema}.inbox WHERE message_id = $1`, [replayed.replayed[0]?.outboxId])).rows.length > 0,
  );
  // The consumer can see a message before the relay has settled it (the broker's confirm and the
  // delivery race): wait for the relay to delete the row.
  const pending = async (): Promise<number> => Number((await pool.query(`SELECT count(*) FROM ${schema}.outbox`)).rows[0].count);
  await until('the relay to settle the replayed message', async () => (await pending()) === 0);

  say('result', `orders: 1, invoices: ${await invoices()} (exactly once), outbox pending: ${await pending()}`);

  await consumer.stop();
  await relay.stop();
  await transport.close();
  await channel.deleteQueue(queue).catch(() => undefined);
  for (const tier of [300, 1_000]) await channel.deleteQueue(`${queue}.retry.${tier}`).catch(() => undefined);
  await channel.deleteQueue(`${queue}.dead`).catch(() => undefined);
  await channel.deleteExchange(exchange).catch(() => undefined);
  await admin.close();
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
  say('done', 'schema and queues removed');
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${redactUrl(String((error as Error).message ?? error))}\n`);
  process.stderr.write('Are PostgreSQL and RabbitMQ running? `bash scripts/services.sh` starts them.\n');
  process.exitCode = 1;
});
