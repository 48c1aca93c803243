import { describe, expect, it } from 'vitest';
import { createRabbitMQConsumer, createRabbitMQTransport } from '../../adapters/rabbitmq/index.js';
import { resolveTransportOptions } from '../../adapters/rabbitmq/options.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(run: () => unknown): Array<{ field: string; message: string }> {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('rabbitmq options', () => {
  it('reports every problem of the transport options at once, naming each field', () => {
    const problems = problemsOf(() =>
      createRabbitMQTransport({
        url: 'http://admin:s3cret-pass@broker:15672',
        topology: {
          exchanges: [
            { name: 'orders', type: 'topic' },
            { name: 'events', type: 'x-delayed' as 'topic' },
            { name: 'amq.custom', type: 'direct' },
          ],
          queues: [{ name: '', bindings: [{ exchange: '', pattern: 5 as unknown as string }] }],
        },
        routes: { 'orders..created': { exchange: 'orders' }, 'audit.#': { exchange: 'audit', routingKey: 7 as unknown as string } },
        publishTimeoutMs: -1,
        reconnect: { initialMs: 500, maxMs: 100 },
        heartbeatSeconds: 1.5,
        colour: 'blue',
      } as never),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'colour',
      'url',
      'topology.exchanges[1].type',
      'topology.exchanges[2].name',
      'topology.queues[0].name',
      'topology.queues[0].bindings[0].exchange',
      'topology.queues[0].bindings[0].pattern',
      'heartbeatSeconds',
      'reconnect.maxMs',
      'routes["orders..created"]',
      'routes["audit.#"].routingKey',
      'publishTimeoutMs',
    ]);
    const text = JSON.stringify(problems);
    expect(text).not.toContain('s3cret-pass');
    expect(problems.find((p) => p.field === 'url')!.message).toMatch(/amqp:\/\/ or amqps:\/\//);
  });

  it('rejects a url that does not parse, without showing its password', () => {
    const problems = problemsOf(() => resolveTransportOptions({ url: 'amqp//guest:topsecret@host' }));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.field).toBe('url');
    expect(problems[0]!.message).not.toContain('topsecret');
  });

  it('fills in the defaults', () => {
    const resolved = resolveTransportOptions({ url: 'amqp://guest:guest@localhost' });
    expect(resolved.publishTimeoutMs).toBe(10_000);
    expect(resolved.connectionOptions!.reconnect).toEqual({ initialMs: 100, maxMs: 10_000 });
    expect(resolved.connectionOptions!.target).toBe('amqp://guest:***@localhost');
  });

  it('reports every problem of the consumer options at once, including retry policy problems', () => {
    const problems = problemsOf(() =>
      createRabbitMQConsumer({
        url: 'amqp://localhost',
        queue: 'orders',
        handler: 'not a function' as never,
        prefetch: 0,
        retry: { tiersMs: [1000, 1000, -5] },
        deadLetterQueue: 'orders',
        policies: { default: { maxAttempts: 0 } },
      }),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'handler',
      'policies.default.maxAttempts',
      'prefetch',
      'retry.tiersMs[1]',
      'retry.tiersMs[2]',
      'deadLetterQueue',
    ]);
  });

  it('asks for exactly one of connection and url', () => {
    const problems = problemsOf(() => createRabbitMQConsumer({ queue: 'q', handler: async () => undefined }));
    expect(problems).toEqual([{ field: 'connection', message: expect.stringMatching(/is required/) }]);
  });
});
