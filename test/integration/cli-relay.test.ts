import net from 'node:net';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { DB_SECRET_URL, expectNoSecrets, startCli } from '../helpers/cli.js';
import { uniqueName, useDatabase } from '../helpers/db.js';
import { Redis } from 'ioredis';
import { RABBITMQ_URL, REDIS_URL } from '../helpers/services.js';
import { existingJobs } from './fixtures/bullmq-kit.js';
import { waitFor } from '../helpers/wait.js';

const { pool, freshSchema } = useDatabase();
let connection: amqp.ChannelModel;
let channel: amqp.Channel;

beforeAll(async () => {
  connection = await amqp.connect(RABBITMQ_URL);
  channel = await connection.createChannel();
});
afterAll(async () => {
  await connection.close();
});

const env = { DATABASE_URL: DB_SECRET_URL, POSTBOX_RABBITMQ_URL: RABBITMQ_URL };

describe('postbox relay', () => {
  it('publishes outbox messages to RabbitMQ, serves metrics, and stops gracefully on SIGTERM with exit 0', async () => {
    const schema = await freshSchema();
    const queue = uniqueName('cli-relay');
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    try {
      await createOutbox({ schema }).enqueue(pool, { topic: queue, key: 'k', payload: { hello: 'relay' } });
      const relay = startCli(['relay', '--schema', schema, '--metrics-port', '0', '--json'], { env });
      const started = JSON.parse((await relay.waitForStdout(/^\{.*\}$/m, 'the start line'))[0]);
      expect(started).toMatchObject({ schema, transport: 'rabbitmq', target: expect.stringContaining('***@'), metricsPort: expect.any(Number) });

      const message = await waitFor('the message in the queue', async () => (await channel.get(queue, { noAck: true })) || undefined);
      expect(JSON.parse(message.content.toString())).toEqual({ hello: 'relay' });
      const health = await fetch(`http://127.0.0.1:${started.metricsPort}/healthz`);
      expect(health.status).toBe(200);
      await waitFor('the outbox to be empty', async () => (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`)).rows[0].n === 0);

      relay.child.kill('SIGTERM');
      const result = await relay.exited;
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('"msg":"SIGTERM: stopping gracefully (send it again to exit at once)"');
      expect(result.stderr).toContain('"msg":"relay stopped"');
      for (const line of result.stderr.trimEnd().split('\n')) expect(JSON.parse(line)).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) });
      expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".relays`)).rows[0].n).toBe(0);
      expectNoSecrets(result);
    } finally {
      await channel.deleteQueue(queue);
    }
  });

  it('publishes to BullMQ with --redis-url: one job per message, the job id the message id', async () => {
    const schema = await freshSchema();
    const queue = uniqueName('cli-bullmq');
    const redis = new Redis(REDIS_URL);
    try {
      const [id] = await createOutbox({ schema }).enqueue(pool, [{ topic: queue, payload: { via: 'cli' } }]);
      const relay = startCli(['relay', '--schema', schema, '--redis-url', REDIS_URL, '--log-level', 'warn'], { env: { DATABASE_URL: DB_SECRET_URL } });
      await waitFor('the job in Redis', async () => (await existingJobs(redis, queue, [id!])).length === 1);
      relay.child.kill('SIGTERM');
      const result = await relay.exited;
      expect(result.code).toBe(0);
      expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`)).rows[0].n).toBe(0);
      expectNoSecrets(result);
    } finally {
      const keys = await redis.keys(`bull:${queue}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('exits at once with code 1 on a second signal during the graceful stop', async () => {
    const schema = await freshSchema();
    const relay = startCli(['relay', '--schema', schema, '--log-level', 'warn'], { env });
    await relay.waitForStdout(/running/);
    const signalled = Date.now();
    // Two different signals, so that neither is merged into the other: the second arrives while the first stop is under way.
    relay.child.kill('SIGTERM');
    relay.child.kill('SIGINT');
    const result = await relay.exited;
    expect(result.code).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(2_000);
    // Signals sent together may be handled in either order.
    expect(result.stderr).toMatch(/"msg":"second SIG(INT|TERM): exiting now; leased messages are published again when their lease expires"/);
    expectNoSecrets(result);
  });

  it('serves /readyz 503 while the broker it started with is unreachable', async () => {
    const schema = await freshSchema();
    // A "broker" that hangs up on every connection.
    const refusing = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const { port } = refusing.address() as net.AddressInfo;
    const relay = startCli(['relay', '--schema', schema, '--metrics-port', '0', '--json'], {
      env: { DATABASE_URL: DB_SECRET_URL, POSTBOX_RABBITMQ_URL: `amqp://guest:rabbit-secret@127.0.0.1:${port}` },
    });
    try {
      const started = JSON.parse((await relay.waitForStdout(/^\{.*\}$/m, 'the start line'))[0]);
      const ready = await fetch(`http://127.0.0.1:${started.metricsPort}/readyz`);
      expect([ready.status, ((await ready.json()) as { transport: string }).transport]).toEqual([503, 'unavailable']);
      relay.child.kill('SIGTERM');
      const result = await relay.exited;
      expect(result.code).toBe(0);
      expectNoSecrets(result);
    } finally {
      if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill('SIGKILL');
      await new Promise((resolve) => refusing.close(resolve));
    }
  });

  it('refuses to start without a transport (exit 2), saying how to configure one', async () => {
    const result = await startCli(['relay'], { env: { DATABASE_URL: DB_SECRET_URL } }).exited;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('transport: is not configured: pass --transport with its broker');
    expectNoSecrets(result);
  });
});
