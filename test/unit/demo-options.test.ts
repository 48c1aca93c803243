import { describe, expect, it } from 'vitest';
import { demoOptionsFromEnv } from '../../src/demo/index.js';
import { createTimeline } from '../../src/demo/timeline.js';

describe('demoOptionsFromEnv', () => {
  it('runs embedded when nothing is set (empty values count as unset)', () => {
    expect(demoOptionsFromEnv({})).toEqual({});
    expect(demoOptionsFromEnv({ DATABASE_URL: ' ', POSTBOX_RABBITMQ_URL: '' })).toEqual({});
  });

  it('reads DATABASE_URL and the first broker set: RabbitMQ, then Kafka, then Redis; POSTBOX_ names first', () => {
    expect(demoOptionsFromEnv({ DATABASE_URL: 'postgres://db', RABBITMQ_URL: 'amqp://a', POSTBOX_RABBITMQ_URL: 'amqp://b', REDIS_URL: 'redis://r' })).toEqual({
      databaseUrl: 'postgres://db',
      broker: { type: 'rabbitmq', url: 'amqp://b' },
    });
    expect(demoOptionsFromEnv({ KAFKA_BROKERS: 'k1:9092, k2:9092,', REDIS_URL: 'redis://r' })).toEqual({ broker: { type: 'kafka', brokers: ['k1:9092', 'k2:9092'] } });
    expect(demoOptionsFromEnv({ POSTBOX_KAFKA_BROKERS: 'k:1', KAFKA_BROKERS: 'other:1' })).toEqual({ broker: { type: 'kafka', brokers: ['k:1'] } });
    expect(demoOptionsFromEnv({ REDIS_URL: 'redis://r' })).toEqual({ broker: { type: 'bullmq', url: 'redis://r' } });
    expect(demoOptionsFromEnv({ POSTBOX_REDIS_URL: 'redis://p', REDIS_URL: 'redis://r' })).toEqual({ broker: { type: 'bullmq', url: 'redis://p' } });
  });
});

describe('the demo timeline', () => {
  it('prints relative time stamps and aligned columns, with credentials redacted', () => {
    let now = 1_000;
    const written: string[] = [];
    const timeline = createTimeline((line) => written.push(line), () => now);
    timeline.say('demo', 'start');
    now += 12_345;
    timeline.say('database', 'PostgreSQL at postgres://app:secret@db:5432/x');
    expect(written).toEqual([' +0.00s  demo      start', '+12.35s  database  PostgreSQL at postgres://app:***@db:5432/x']);
    expect(timeline.lines).toEqual(written);
    expect(timeline.elapsedMs()).toBe(12_345);
  });
});
