import { redactUrl } from '../../redact.js';
import { DEMO_TOPICS, type DemoBroker, type DemoBrokerContext } from './types.js';

/** Retry delays the consumer can use (one TTL queue each): they cover the demo's short backoff. */
const TIERS_MS = [100, 200, 400];

export async function openRabbitMQBroker(url: string, context: DemoBrokerContext): Promise<DemoBroker> {
  const { createRabbitMQConsumer, createRabbitMQTransport, replayConsumerDeadLetters } = await import('../../../adapters/rabbitmq/index.js');
  const exchange = `demo.orders.${context.run}`;
  const queue = `demo.billing.${context.run}`;
  const transport = createRabbitMQTransport({
    url,
    topology: { exchanges: [{ name: exchange, type: 'topic' }], queues: [{ name: queue, bindings: [{ exchange, pattern: DEMO_TOPICS }] }] },
    routes: { [DEMO_TOPICS]: { exchange } },
  });
  let consumer: { stop(): Promise<void> } | undefined;
  return {
    label: `RabbitMQ at ${redactUrl(url)}`,
    transport,
    async consume(spec) {
      await transport.connect(); // declares the exchange and the queue the consumer reads
      const started = createRabbitMQConsumer({
        url,
        queue,
        consumer: spec.consumer,
        policies: context.policies,
        retry: { tiersMs: TIERS_MS },
        middleware: spec.middleware,
        handler: spec.handler,
        onEvent: (event) => {
          if (event.type === 'message:retry-scheduled' || event.type === 'message:dead-lettered') spec.onEvent(event);
        },
      });
      await started.start();
      consumer = started;
    },
    replayDeadLetters: () => replayConsumerDeadLetters({ url, queue }),
    async close() {
      await consumer?.stop();
      await transport.close();
      const { default: amqp } = await import('amqplib');
      const admin = await amqp.connect(url);
      try {
        const channel = await admin.createChannel();
        for (const name of [queue, `${queue}.dead`, ...TIERS_MS.map((tier) => `${queue}.retry.${tier}`)]) {
          await channel.deleteQueue(name).catch(() => undefined);
        }
        await channel.deleteExchange(exchange).catch(() => undefined);
      } finally {
        await admin.close().catch(() => undefined);
      }
    },
  };
}
