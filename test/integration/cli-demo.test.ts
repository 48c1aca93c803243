import { describe, expect, it } from 'vitest';
import { DB_SECRET_URL, expectNoSecrets, json, runCli } from '../helpers/cli.js';
import { REDIS_URL } from '../helpers/services.js';

describe('postbox demo', () => {
  it('runs the story against the database and broker given as flags (over a broker in the environment): exit 0, the result as JSON, the story on stderr', async () => {
    const result = await runCli(['demo', '--database-url', DB_SECRET_URL, '--redis-url', REDIS_URL, '--json'], { env: { POSTBOX_RABBITMQ_URL: 'amqp://guest:rabbit-secret@127.0.0.1:1' } });
    expect(result.code).toBe(0);
    expect(json(result)).toMatchObject({ database: 'postgres', broker: 'bullmq', outcome: { outboxPending: 0, deadLetters: 0 } });
    expect(result.stderr).toContain('result    orders 2, invoices 2');
    expectNoSecrets(result);
  });

  it('exits 1 with a hint when its broker is down', async () => {
    const result = await runCli(['demo', '--rabbitmq-url', 'amqp://guest:rabbit-secret@127.0.0.1:1'], { env: { DATABASE_URL: DB_SECRET_URL } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^postbox: RabbitMQ: .*ECONNREFUSED.*\nhint: is RabbitMQ running/m);
    expectNoSecrets(result);
  });
});
