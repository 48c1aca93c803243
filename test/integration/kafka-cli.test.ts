/**
 * The postbox command against the real Kafka broker: `postbox doctor` reaches it, and
 * `postbox relay --kafka-brokers` publishes the outbox to it and stops gracefully on SIGTERM.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, startReader, headersOf, type TopicAdmin } from '../conformance/kafka-tools.js';
import { DB_SECRET_URL, expectNoSecrets, runCli, startCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const { pool, freshSchema } = useDatabase();
const env = { DATABASE_URL: DB_SECRET_URL, POSTBOX_KAFKA_BROKERS: KAFKA_BROKERS.join(',') };

let admin: TopicAdmin;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin.cleanup();
  await admin.close();
});

it('postbox doctor reaches the Kafka broker; postbox relay publishes to it and stops on SIGTERM', async () => {
  const schema = await freshSchema();
  const topic = randomTopic('cli-kafka');
  await admin.create([topic], 1);

  const doctor = await runCli(['doctor', '--schema', schema, '--json'], { env });
  expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
  const checks = JSON.parse(doctor.stdout).checks as Array<{ name: string; status: string }>;
  expect(checks.find((c) => c.name === 'transport')).toMatchObject({ status: 'ok' });

  const [id] = await createOutbox({ schema }).enqueue(pool, [{ topic, key: 'k-1', payload: { via: 'cli' } }]);
  const reader = await startReader([topic]);
  const relay = startCli(['relay', '--schema', schema, '--log-level', 'warn'], { env });
  try {
    const [record] = await reader.take(topic, 1);
    expect(headersOf(record!)['postbox-message-id']).toBe(id);
    expect(record!.key?.toString()).toBe('k-1');
    expect(JSON.parse(record!.value!.toString())).toEqual({ via: 'cli' });
  } finally {
    await reader.stop();
  }
  relay.child.kill('SIGTERM');
  const result = await relay.exited;
  expect(result.code).toBe(0);
  expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`)).rows[0].n).toBe(0);
  expectNoSecrets(result);
  expectNoSecrets(doctor);
});
