import pg from 'pg';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { DATABASE_URL, HOW_TO_START, RABBITMQ_URL, REDIS_URL } from './services.js';
import { redactUrl } from '../../src/redact.js';

/** Fails the whole integration run, loudly, when a service is missing. Never skips. */
export default async function checkServices(): Promise<void> {
  const problems: string[] = [];
  try {
    const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    await client.query('SELECT 1');
    await client.end();
  } catch (error) {
    problems.push(
      `PostgreSQL is not reachable at ${redactUrl(DATABASE_URL)} (${(error as Error).message}).\n` +
        `  Start it with: ${HOW_TO_START.postgres}\n  or point POSTBOX_TEST_DATABASE_URL at one.`,
    );
  }
  try {
    const connection = await amqp.connect(RABBITMQ_URL, { timeout: 5000 });
    await connection.close();
  } catch (error) {
    problems.push(
      `RabbitMQ is not reachable at ${redactUrl(RABBITMQ_URL)} (${(error as Error).message}).\n` +
        `  Start it with: ${HOW_TO_START.rabbitmq}\n  or point POSTBOX_TEST_RABBITMQ_URL at one.`,
    );
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    problems.push(
      `Redis is not reachable at ${redactUrl(REDIS_URL)} (${(error as Error).message}).\n` +
        `  Start it with: ${HOW_TO_START.redis}\n  or point POSTBOX_TEST_REDIS_URL at one.`,
    );
  } finally {
    redis.disconnect();
  }
  if (problems.length > 0) {
    throw new Error(`Integration tests need real services:\n${problems.join('\n')}`);
  }
}
