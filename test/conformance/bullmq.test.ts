import { afterAll } from 'vitest';
import { createBullMQTransport } from '../../adapters/bullmq/index.js';
import { waitFor } from '../helpers/wait.js';
import { createRedisAdmin, randomName, received, REDIS_URL } from './bullmq-tools.js';
import { describeTransportConformance, type TransportHarness } from './transport-suite.js';

/**
 * No routes: a topic no route matches goes to the queue named like the topic, so each topic() is
 * a fresh queue. BullMQ cannot tell an unroutable message (a queue is created by its first job),
 * and one addBulk per queue keeps the batch order of a queue (one pipeline, in order).
 */
const admin = createRedisAdmin();
afterAll(async () => {
  await admin.close();
});

const harness: TransportHarness = {
  name: 'bullmq',
  features: { detectsUnroutable: false, preservesBatchOrder: true },
  async setup() {
    const transport = createBullMQTransport({ connection: REDIS_URL, connectionName: 'postbox-conformance' });
    await transport.connect();
    const taken = new Map<string, number>();
    return {
      transport,
      topic: () => {
        const topic = `conformance.${randomName('q')}`;
        admin.queue(topic); // tracked for cleanup
        return topic;
      },
      async read(topic, count, timeoutMs) {
        const from = taken.get(topic) ?? 0;
        const jobs = await waitFor(`${count} job(s) in queue ${topic}`, async () => {
          const all = await admin.jobs(topic);
          return all.length >= from + count ? all : undefined;
        }, { timeoutMs });
        taken.set(topic, from + count);
        return jobs.slice(from, from + count).map(received);
      },
      async teardown() {
        await transport.close();
        await admin.cleanup();
      },
    };
  },
};

describeTransportConformance(harness);
