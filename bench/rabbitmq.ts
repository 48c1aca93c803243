/**
 * npm run bench -- rabbitmq
 *
 * Reference: the raw amqplib confirm channel publishing the same messages (persistent, mandatory,
 * same properties and headers as the relay's) pipelined with a window of BENCH_WINDOW (2000), the
 * relay's own publish window, to one classic durable queue. See harness.ts for the rest.
 * Settings (env): BENCH_WINDOW (2000), POSTBOX_RABBITMQ_URL, and those of harness.ts.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { createRabbitMQTransport } from '../adapters/rabbitmq/index.js';
import { redactUrl } from '../src/redact.js';
import { runBenchmark } from './harness.js';
import { env, rate, samplePayload } from './stats.js';

const RABBITMQ_URL = process.env.POSTBOX_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const WINDOW = env('BENCH_WINDOW', 2000);
const TOPIC = 'bench.order-placed';
const ROUTING_KEY = 'bench';

runBenchmark({
  name: 'rabbitmq',
  reference: `amqplib confirm channel, pipelined, window ${WINDOW}, at ${redactUrl(RABBITMQ_URL)}`,
  topic: TOPIC,
  async setup() {
    const suffix = randomBytes(4).toString('hex');
    const exchange = `postbox-bench-${suffix}`;
    const queue = `postbox-bench-${suffix}`;
    const admin = await amqp.connect(RABBITMQ_URL);
    const channel = await admin.createChannel();
    await channel.assertExchange(exchange, 'direct', { durable: true });
    await channel.assertQueue(queue, { durable: true });
    await channel.bindQueue(queue, exchange, ROUTING_KEY);
    return {
      rawPublish: (count) => rawPublish(exchange, count),
      transport: () =>
        createRabbitMQTransport({
          url: RABBITMQ_URL,
          routes: { [TOPIC]: { exchange, routingKey: ROUTING_KEY } },
          topology: { exchanges: [{ name: exchange, type: 'direct' }] },
        }),
      reset: async () => {
        await channel.purgeQueue(queue);
      },
      teardown: async () => {
        await channel.deleteQueue(queue).catch(() => undefined);
        await channel.deleteExchange(exchange).catch(() => undefined);
        await admin.close();
      },
    };
  },
});

/** What amqplib alone does with the same messages, properties and destination. */
async function rawPublish(exchange: string, count: number): Promise<number> {
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createConfirmChannel();
  let returned = 0;
  channel.on('return', () => returned++);
  const started = performance.now();
  let inFlight = 0;
  let confirmed = 0;
  let failed = 0;
  let wake: (() => void) | undefined;
  const settle = (error: unknown): void => {
    inFlight--;
    confirmed++;
    if (error) failed++;
    wake?.();
  };
  for (let i = 0; i < count; i++) {
    while (inFlight >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    const id = randomBytes(16).toString('hex');
    const body = Buffer.from(JSON.stringify(samplePayload(i)));
    inFlight++;
    const ok = channel.publish(
      exchange,
      ROUTING_KEY,
      body,
      {
        persistent: true,
        mandatory: true,
        messageId: id,
        contentType: 'application/json',
        timestamp: Math.floor(Date.now() / 1000),
        type: TOPIC,
        headers: { 'postbox-message-id': id, 'postbox-topic': TOPIC, 'postbox-key': `order-${i}`, 'postbox-publish-attempt': '1', 'postbox-created-at': new Date().toISOString() },
      },
      settle,
    );
    if (!ok) await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
  }
  while (confirmed < count) await new Promise<void>((resolve) => (wake = resolve));
  const elapsed = performance.now() - started;
  await connection.close();
  if (failed > 0 || returned > 0) throw new Error(`raw publish: ${failed} nacked, ${returned} returned`);
  return rate(count, elapsed);
}
