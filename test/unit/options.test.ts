import { describe, it, expect } from 'vitest';
import { ConfigError, type Problem } from '../../src/errors.js';
import { RELAY_DEFAULTS, resolveRelayOptions, type RelayOptions } from '../../src/relay/options.js';
import { createOutbox, OUTBOX_DEFAULTS, type OutboxOptions } from '../../src/outbox/enqueue.js';
import { createRelay } from '../../src/relay/relay.js';
import { createMemoryTransport } from '../../src/testing/memory-transport.js';
import type { ConnectionPool } from '../../src/db/queryable.js';

/** A pool that fails the test if anything uses it: option checks must do no I/O. */
const pool: ConnectionPool = {
  query: () => Promise.reject(new Error('no I/O expected')),
  connect: () => Promise.reject(new Error('no I/O expected')),
};
const transport = createMemoryTransport();

function configProblems(fn: () => unknown): Problem[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('resolveRelayOptions', () => {
  it('applies the defaults and freezes the result', () => {
    const resolved = resolveRelayOptions({ pool, transport });
    expect(resolved).toMatchObject(RELAY_DEFAULTS);
    expect(resolved.policies.default.maxAttempts).toBe(10);
    // Derived: enough claims to keep the publish window full.
    expect(resolved.maxBatchesInFlight).toBe(2 * Math.ceil(RELAY_DEFAULTS.publishWindow / RELAY_DEFAULTS.batchSize) + 2);
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('sends chunks of the size the transport prefers, unless told otherwise, never above the window', () => {
    const chunky = { ...transport, preferredChunkSize: 500 };
    expect(resolveRelayOptions({ pool, transport }).publishChunkSize).toBe(100);
    expect(resolveRelayOptions({ pool, transport: chunky }).publishChunkSize).toBe(500);
    expect(resolveRelayOptions({ pool, transport: chunky, publishChunkSize: 50 }).publishChunkSize).toBe(50);
    expect(resolveRelayOptions({ pool, transport: chunky, publishWindow: 300 }).publishChunkSize).toBe(300);
  });

  it('claims at least two chunks of the transport\'s preferred size, unless batchSize is given', () => {
    expect(resolveRelayOptions({ pool, transport }).batchSize).toBe(RELAY_DEFAULTS.batchSize);
    const chunky = { ...transport, preferredChunkSize: 500 };
    expect(resolveRelayOptions({ pool, transport: chunky }).batchSize).toBe(1000);
    expect(resolveRelayOptions({ pool, transport: chunky, batchSize: 200 }).batchSize).toBe(200);
  });

  it('treats options set to undefined as not set', () => {
    expect(resolveRelayOptions({ pool, transport, batchSize: undefined }).batchSize).toBe(RELAY_DEFAULTS.batchSize);
  });

  it('reports every problem at once, naming each field', () => {
    const problems = configProblems(() =>
      resolveRelayOptions({
        pool: {} as ConnectionPool,
        transport: {} as never,
        schema: 'Robert"; DROP',
        batchSize: 0,
        leaseMs: 999,
        minPollIntervalMs: 100,
        maxPollIntervalMs: 50,
        cleanupIntervalMs: 1.5,
        listen: 'yes' as never,
        id: '',
        pollMs: 5,
      } as RelayOptions),
    );
    expect(problems.map((p) => p.field).sort()).toEqual(
      ['pool', 'transport', 'schema', 'batchSize', 'leaseMs', 'maxPollIntervalMs', 'cleanupIntervalMs', 'listen', 'id', 'pollMs'].sort(),
    );
    expect(problems.find((p) => p.field === 'leaseMs')!.message).toMatch(/>= 1000/);
    expect(problems.find((p) => p.field === 'maxPollIntervalMs')!.message).toMatch(/minPollIntervalMs/);
    expect(problems.find((p) => p.field === 'pollMs')!.message).toMatch(/not a relay option/);
  });

  it('merges retry policy problems into the same ConfigError as the relay options', () => {
    const problems = configProblems(() =>
      resolveRelayOptions({
        pool,
        transport,
        batchSize: -1,
        policies: {
          default: { maxAttempts: 0 },
          topics: { 'orders.*x': { backoff: { jitter: 'lots' as never } }, 'audit.#': { maxAttemps: 3 } as never },
        },
      }),
    );
    const fields = problems.map((p) => p.field);
    expect(fields).toContain('batchSize');
    expect(fields).toContain('policies.default.maxAttempts');
    expect(fields).toContain('policies.topics["orders.*x"]');
    expect(fields).toContain('policies.topics["orders.*x"].backoff.jitter');
    expect(fields.some((f) => f.startsWith('policies.topics["audit.#"]'))).toBe(true);
  });

  it('makes createRelay throw the ConfigError before touching the pool', () => {
    expect(() => createRelay({ pool, transport, leaseMs: 10 })).toThrow(ConfigError);
    expect(() => createRelay({ pool, transport, leaseMs: 10 })).toThrow(/leaseMs/);
  });
});

describe('createOutbox options', () => {
  it('uses the defaults', () => {
    expect(createOutbox().schema).toBe(OUTBOX_DEFAULTS.schema);
    expect(createOutbox({ schema: 'my_app' }).schema).toBe('my_app');
  });

  it('reports every problem at once, naming each field', () => {
    const problems = configProblems(() =>
      createOutbox({ schema: 'Robert\'); DROP', maxPayloadBytes: 0, idempotencyTtlMs: -1, maxPayload: 5 } as OutboxOptions),
    );
    expect(problems.map((p) => p.field).sort()).toEqual(['idempotencyTtlMs', 'maxPayload', 'maxPayloadBytes', 'schema']);
    expect(problems.find((p) => p.field === 'schema')!.message).toMatch(/plain identifier/);
  });

  it.each([['a string', '10'], ['a fraction', 1.5], ['NaN', NaN], ['Infinity', Infinity]])('rejects %s as maxPayloadBytes', (_name, value) => {
    expect(configProblems(() => createOutbox({ maxPayloadBytes: value as number })).map((p) => p.field)).toEqual(['maxPayloadBytes']);
  });
});
