/**
 * At-least-once through relay crashes, and no duplicate jobs thanks to jobId = message id: a relay
 * runs in a child process (fixtures/relay-child.ts, POSTBOX_CHILD_TRANSPORT=bullmq) and is killed
 * with SIGKILL several times while it drains a backlog of 3,000 messages into one BullMQ queue.
 * The child publishes each claimed batch of 100 in addBulk calls of 10 (publishChunkSize) and
 * sees each result ACK_DELAY_MS late, so a batch is partly in Redis, leased and unsettled, when
 * the relay dies; each kill is timed for that moment. The next relay takes the batch over when the
 * lease expires and adds those jobs again: a no-op, because the job ids exist. In the end every
 * message is exactly one job, and the outbox is empty.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRedisAdmin, randomName, REDIS_URL } from '../conformance/bullmq-tools.js';
import { useDatabase } from '../helpers/db.js';
import { DATABASE_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { existingJobs, jobIdsIn, listedJobs } from './fixtures/bullmq-kit.js';
import { relayChildren } from './fixtures/relay-children.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const MESSAGES = 3_000;
const KEYS = 20;
const LEASE_MS = 1_500;
const ACK_DELAY_MS = 15;
/** Kills that must hit a partly added batch, tried at most MAX_KILLS times, every KILL_EVERY jobs. */
const KILLS = 3;
const MAX_KILLS = 8;
const KILL_EVERY = 400;

const { pool, freshSchema } = useDatabase();
const children = relayChildren();
const admin = createRedisAdmin();
afterAll(async () => {
  await admin.close();
});
afterEach(async () => {
  await children.killAll();
  await admin.cleanup();
});

it('makes every committed message exactly one job while the BullMQ relay process is killed mid-batch again and again', async () => {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const queue = randomName('crash');
  admin.queue(queue); // obliterated after the test
  const messages = Array.from({ length: MESSAGES }, (_, n) => ({ topic: 'crash.item', key: `key-${n % KEYS}`, payload: { n } }));
  const ids: string[] = [];
  for (let i = 0; i < messages.length; i += 500) ids.push(...(await outbox.enqueue(pool, messages.slice(i, i + 500))));

  let generation = 0;
  const childSettings = () => ({
    TRANSPORT: 'bullmq',
    DATABASE_URL,
    REDIS_URL,
    CONNECTION_NAME: `postbox-crash-relay-${generation}`,
    SCHEMA: schema,
    RELAY_ID: `bullmq-crash-relay-${generation}`,
    ROUTES: JSON.stringify({ 'crash.#': { queue } }),
    LEASE_MS: String(LEASE_MS),
    BATCH_SIZE: '100',
    CHUNK_SIZE: '10',
    ACK_DELAY_MS: String(ACK_DELAY_MS),
  });
  const jobs = () => listedJobs(admin.redis, queue);
  const leasedIds = async (): Promise<string[]> =>
    (await pool.query(`SELECT o.id::text AS id FROM "${schema}".outbox o JOIN "${schema}".outbox_leases l ON l.seq = o.seq WHERE l.until > now()`)).rows.map(
      (r: { id: string }) => r.id,
    );

  let relay = await children.start(childSettings());
  /** Per kill: rows the dead relay still held, and those of them already jobs in Redis. */
  const kills: Array<{ leased: number; added: string[] }> = [];
  const effective = () => kills.filter((k) => k.added.length > 0).length;
  let threshold = KILL_EVERY;
  while (effective() < KILLS && kills.length < MAX_KILLS) {
    const moment = await waitFor(
      `a leased batch partly added, after ${threshold} jobs`,
      async () => {
        if ((await rowCount(pool, schema, 'outbox')) === 0) return 'too late';
        if ((await jobs()) < threshold) return false;
        return (await existingJobs(admin.redis, queue, await leasedIds())).length > 0 ? 'now' : false;
      },
      { timeoutMs: 30_000, intervalMs: 1 },
    );
    if (moment === 'too late') break;
    await children.kill(relay, 'SIGKILL');
    const leased = await leasedIds(); // the dead relay was the only one
    kills.push({ leased: leased.length, added: await existingJobs(admin.redis, queue, leased) });
    threshold = (await jobs()) + KILL_EVERY;
    generation += 1;
    relay = await children.start(childSettings());
  }

  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0, { timeoutMs: 40_000, intervalMs: 50 });
  await children.kill(relay, 'SIGTERM');
  expect(relay.exitCode).toBe(0);

  const jobIds = await jobIdsIn(admin.redis, queue);
  console.log(
    `bullmq crash: ${ids.length} messages, ${jobIds.length} jobs, ${kills.length} kills leaving ` +
      `${kills.map((k) => `${k.leased}/${k.added.length}`).join(', ')} leased/already added rows`,
  );
  // The crash path really ran: kills left leased batches of which some jobs were already added,
  // and the next relay published those again (they were leased, so not settled).
  expect(effective(), `leased/added rows per kill: ${kills.map((k) => `${k.leased}/${k.added.length}`).join(', ')}`).toBeGreaterThanOrEqual(KILLS);
  // Exactly once: every message id is one job, no more, no less.
  expect(jobIds).toHaveLength(ids.length);
  expect(new Set(jobIds)).toEqual(new Set(ids));
  expect(await jobs()).toBe(ids.length); // and each is listed once (waiting)
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(children.running.size).toBe(0);
});
