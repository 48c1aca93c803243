import { redactUrl } from '../../redact.js';
import { DEMO_TOPICS, type DemoBroker, type DemoBrokerContext } from './types.js';

export async function openBullMQBroker(url: string, context: DemoBrokerContext): Promise<DemoBroker> {
  const { createBullMQTransport, createBullMQWorker, deadLetterQueueName, replayBullMQDeadLetters } = await import('../../../adapters/bullmq/index.js');
  const queue = `demo-billing-${context.run}`;
  // The transport gives each job the consumer's policy (attempts and backoff run in BullMQ).
  const transport = createBullMQTransport({ connection: url, routes: { [DEMO_TOPICS]: { queue } }, policies: context.policies });
  let worker: { stop(): Promise<void> } | undefined;
  return {
    label: `BullMQ on Redis at ${redactUrl(url)}`,
    transport,
    dropsRepublished: 'BullMQ dropped the copy itself: job id = message id, and the finished job is kept',
    async consume(spec) {
      const started = createBullMQWorker({
        queue,
        connection: url,
        consumer: spec.consumer,
        policies: context.policies,
        middleware: spec.middleware,
        handler: spec.handler,
        startTimeoutMs: 5_000,
        onEvent: (event) => {
          if (event.type === 'message:retry-scheduled' || event.type === 'message:dead-lettered') spec.onEvent(event);
        },
      });
      await started.start();
      worker = started;
    },
    replayDeadLetters: async () => (await replayBullMQDeadLetters({ connection: url, queue })).count,
    async close() {
      await worker?.stop();
      await transport.close();
      if (worker === undefined) return; // Redis never answered: nothing was created, and a Queue handle would wait for it forever
      const { Queue } = await import('bullmq');
      for (const name of [queue, deadLetterQueueName(queue)]) {
        const handle = new Queue(name, { connection: { url } });
        const removed = handle.obliterate({ force: true }).catch(() => undefined);
        await Promise.race([removed, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        await handle.close().catch(() => undefined);
      }
    },
  };
}
