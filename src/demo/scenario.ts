/**
 * The story: orders and their events committed together (one rolled back), the relay publishing,
 * billing consuming through the inbox, a transient failure retried with backoff, a poison message
 * dead-lettered, fixed and replayed, and a duplicate delivery skipped. Every step waits for the
 * state it announces; nothing sleeps.
 */
import { withTransaction } from '../db/queryable.js';
import { createInbox } from '../inbox/inbox.js';
import { inboxMiddleware } from '../inbox/middleware.js';
import { silentLogger } from '../logger.js';
import { createOutbox } from '../outbox/enqueue.js';
import { createRelay } from '../relay/relay.js';
import type { Transport } from '../transport.js';
import type { RetryPoliciesInput } from '../retry/types.js';
import { createBilling } from './billing.js';
import type { DemoBroker } from './brokers/index.js';
import type { DemoDatabase } from './database.js';
import type { DemoResult } from './options.js';
import { createSignals, until } from './signals.js';
import { shortId, type Timeline } from './timeline.js';

/** Short, predictable backoff (no jitter) so the demo takes seconds and prints exact delays. */
export const DEMO_POLICIES: RetryPoliciesInput = {
  default: { maxAttempts: 3, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000, jitter: 'none' } },
};
const TOPIC = 'orders.paid';

export async function runScenario(db: DemoDatabase, broker: DemoBroker, say: Timeline['say'], timeoutMs: number, abort?: AbortSignal): Promise<DemoResult['outcome']> {
  const { pool, schema } = db;
  const count = async (table: string): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".${table}`)).rows[0].n);
  const signals = createSignals(timeoutMs, abort);
  const orderOf = new Map<string, string>(); // message id -> order id
  let duplicatesSkipped = 0;
  let deadLettered = 0;

  const billing = createBilling(schema, (orderId, amount, attempt) => {
    say('billing', `${orderId}: invoice for ${amount} written in the inbox transaction (attempt ${attempt})`);
    signals.fire(`invoice:${orderId}`);
  });
  await broker.consume({
    consumer: 'billing',
    handler: billing.handler,
    middleware: [
      inboxMiddleware({
        inbox: createInbox({ pool, schema }),
        onDuplicate: (id) => {
          duplicatesSkipped++;
          say('billing', `${orderOf.get(id)}: duplicate of ${shortId(id)} skipped by the inbox (already invoiced)`);
          signals.fire('duplicate');
        },
      }),
    ],
    onEvent: (event) => {
      const order = orderOf.get(event.id) ?? shortId(event.id);
      if (event.type === 'message:retry-scheduled') {
        say('billing', `${order}: attempt ${event.attempt} failed (${event.error.message}); retry in ${event.delayMs} ms`);
      } else {
        deadLettered++;
        say('billing', `${order}: dead-lettered at attempt ${event.attempt}, ${event.reason}: ${event.error.message}`);
        signals.fire(`dead:${order}`);
      }
    },
  });
  say('billing', 'consumer started, with the inbox (one invoice per order, whatever the broker redelivers)');

  const transport = announcing(broker.transport, (ids) => say('relay', `published ${ids.map((id) => orderOf.get(id) ?? shortId(id)).join(', ')}: the broker acknowledged`));
  const relay = createRelay({ pool, schema, transport, policies: DEMO_POLICIES, logger: silentLogger, minPollIntervalMs: 5, maxPollIntervalMs: 50 });
  relay.on('message:retry-scheduled', (m) => say('relay', `${orderOf.get(m.id)}: publish attempt ${m.attempt} failed (${m.error}); retry in ${m.delayMs} ms`));
  relay.on('message:dead-lettered', (m) => say('relay', `${orderOf.get(m.id)}: dead-lettered in the outbox, ${m.reason}`));
  await relay.start();
  say('relay', 'started');

  try {
    abort?.throwIfAborted();
    const outbox = createOutbox({ schema });
    const placeOrder = (orderId: string, amount: number | string, fail?: string): Promise<string> =>
      withTransaction(pool, async (tx) => {
        await tx.query(`INSERT INTO "${schema}".orders (id, amount) VALUES ($1, $2)`, [orderId, String(amount)]);
        const id = await outbox.enqueue(tx, { topic: TOPIC, key: orderId, payload: { orderId, amount } });
        orderOf.set(id, orderId);
        if (fail !== undefined) throw new Error(fail);
        return id;
      });

    const first = await placeOrder('o-1', 42);
    say('producer', `o-1: order and its ${TOPIC} event committed in one transaction (${shortId(first)})`);
    const declined = await placeOrder('o-2', 7, 'card declined').catch((error: Error) => error.message);
    const leftovers = await pool.query(`SELECT (SELECT count(*) FROM "${schema}".outbox WHERE key = 'o-2') + (SELECT count(*) FROM "${schema}".orders WHERE id = 'o-2') AS n`);
    if (Number(leftovers.rows[0].n) !== 0) throw new Error('demo: the rolled-back order o-2 left rows behind');
    say('producer', `o-2: rolled back (${declined}): neither the order nor its event exists, nothing will be published`);
    const poison = await placeOrder('o-3', 'forty-two');
    say('producer', `o-3: committed, with its amount in words: poison for this billing version (${shortId(poison)})`);

    await signals.wait('invoice:o-1', 'invoice for o-1');
    await signals.wait('dead:o-3', 'dead letter for o-3');

    abort?.throwIfAborted();
    billing.deployFix();
    say('ops', `fix deployed (billing reads amounts in words); replaying the dead letter ${shortId(poison)}, same id`);
    const replayed = await broker.replayDeadLetters();
    if (replayed !== 1) throw new Error(`demo: replay moved ${replayed} dead letters, expected 1`);
    await signals.wait('invoice:o-3', 'invoice for the replayed o-3');

    abort?.throwIfAborted();
    await outbox.enqueue(pool, { id: first, topic: TOPIC, key: 'o-1', payload: { orderId: 'o-1', amount: 42 } });
    say('producer', `o-1: its event enqueued again with the same id, as a relay that crashed before recording the publish would resend it`);
    if (broker.dropsRepublished !== undefined) {
      await until('the relay to publish the copy', async () => (await count('outbox')) === 0, timeoutMs, abort);
      say('broker', broker.dropsRepublished);
    } else {
      await signals.wait('duplicate', 'duplicate delivery of o-1');
    }
    await until('an empty outbox', async () => (await count('outbox')) === 0, timeoutMs, abort);
    const outcome = {
      orders: await count('orders'),
      invoices: await count('invoices'),
      outboxPending: await count('outbox'),
      deadLetters: deadLettered - replayed,
      duplicatesSkipped,
    };
    say('result', `orders ${outcome.orders}, invoices ${outcome.invoices} (one per order), outbox pending ${outcome.outboxPending}, dead letters ${outcome.deadLetters}`);
    return outcome;
  } finally {
    await relay.stop({ timeoutMs: 2_000 });
  }
}

/** The broker's transport, telling which messages each publish() call got acknowledged. */
function announcing(transport: Transport, published: (ids: string[]) => void): Transport {
  const wrapper = Object.create(transport) as Transport & { publish: Transport['publish'] };
  wrapper.publish = async (batch, options) => {
    const results = await transport.publish(batch, options);
    const ids = batch.filter((_, i) => results[i]?.ok).map((m) => m.id);
    if (ids.length > 0) published(ids);
    return results;
  };
  return wrapper;
}
