/**
 * Redis restarted mid-flow: a relay publishes to a redis-server of the test's own while a
 * producer keeps committing messages, and that server is killed (SIGKILL, a crash) and started
 * again twice. The relay keeps going: while Redis is down its publishes fail fast (transport
 * unavailable: the batch goes back, no attempt counted; or a failed publish that is retried), and
 * when Redis is back it reconnects by itself. In the end every message is exactly one job: none
 * lost, no duplicate job ids, nothing dead-lettered.
 *
 * Why a private server WITH persistence: the shared test Redis runs without persistence, and a
 * Redis without persistence that restarts comes back EMPTY, losing every job it had acknowledged.
 * BullMQ's durability is Redis's: run it with the append-only file and appendfsync always (or
 * accept losing up to a second of acknowledged jobs with everysec). This server does that, in a
 * temporary directory, so the jobs it acknowledged before each crash are still there after it.
 */
import { expect, it } from 'vitest';
import { createBullMQTransport } from '../../adapters/bullmq/index.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRedisAdmin, randomName } from '../conformance/bullmq-tools.js';
import { useDatabase } from '../helpers/db.js';
import { produceDuringTest, useCleanups } from '../helpers/e2e.js';
import { startWatchedRelay } from '../helpers/proof.js';
import { waitFor } from '../helpers/wait.js';
import { jobIdsIn, listedJobs, startPrivateRedis } from './fixtures/bullmq-kit.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const MESSAGES = 2_000;
const RESTARTS = 2;
const FIRST_RESTART_AT = 300;
const RESTART_EVERY = 600;

const { pool, freshSchema } = useDatabase();
const cleanups = useCleanups();

it('adds every message exactly once, nothing dead-lettered, while Redis crashes and restarts twice mid-flow', async () => {
  const redisServer = await startPrivateRedis({ persistent: true });
  cleanups.push(() => redisServer.dispose());
  const admin = createRedisAdmin(redisServer.url);
  cleanups.push(() => admin.close());
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const queue = randomName('restart');

  const transport = createBullMQTransport({
    connection: redisServer.url,
    routes: { 'restart.#': { queue } },
    publishTimeoutMs: 2_000,
    connectTimeoutMs: 500,
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  cleanups.push(() => transport.close());
  const relay = await startWatchedRelay({
    schema,
    transport,
    cleanups,
    poolSize: 6,
    policies: { default: { maxAttempts: 30, backoff: { initialMs: 10, multiplier: 2, maxMs: 200, jitter: 'full' } } },
    publishErrors: false,
  });
  const { unavailable, failedPublishes, deaths } = relay;

  const messages = Array.from({ length: MESSAGES }, (_, n) => ({ topic: 'restart.item', key: `key-${n % 10}`, payload: { n } }));
  const producing = produceDuringTest(cleanups, messages, {
    perTransaction: 10,
    maxBacklog: 300,
    delivered: () => relay.published,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  });

  const restarts: Array<{ at: number; felt: number }> = [];
  let threshold = FIRST_RESTART_AT;
  while (restarts.length < RESTARTS) {
    await waitFor(`the relay to have published ${threshold} messages`, () => relay.published >= threshold, { timeoutMs: 30_000, intervalMs: 2 });
    const at = relay.published;
    const feltBefore = relay.felt();
    await redisServer.stop('SIGKILL');
    // Down until the relay noticed (a batch put back, or a publish failed), not for a fixed time.
    await waitFor('the relay to notice that Redis is down', () => relay.felt() > feltBefore, { timeoutMs: 15_000, intervalMs: 5 });
    await redisServer.start();
    restarts.push({ at, felt: relay.felt() - feltBefore });
    threshold = relay.published + RESTART_EVERY;
  }

  const ids = await producing;
  expect(ids).toHaveLength(MESSAGES);
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0, { timeoutMs: 40_000, intervalMs: 50 });

  const jobIds = await jobIdsIn(admin.redis, queue);
  console.log(
    `bullmq redis restart: ${ids.length} messages, ${jobIds.length} jobs, restarts at ${restarts.map((r) => `${r.at} (${r.felt} failures felt)`).join(', ')}; ` +
      `${unavailable.length} batches put back (transport unavailable), ${failedPublishes.length} failed publishes retried`,
  );
  expect(deaths).toEqual([]);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  // None lost (acknowledged jobs survived the crashes: AOF, fsync always), none twice.
  expect(jobIds).toHaveLength(ids.length);
  expect(new Set(jobIds)).toEqual(new Set(ids));
  expect(await listedJobs(admin.redis, queue)).toBe(ids.length);
  expect(restarts.every((r) => r.felt > 0)).toBe(true);
});
