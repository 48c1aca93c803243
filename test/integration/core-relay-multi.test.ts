import { afterEach, describe, it, expect } from 'vitest';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { createMemoryTransport } from '../../src/testing/memory-transport.js';
import type { MessageInput, OutboxMessage } from '../../src/message.js';
import { silentLogger } from '../../src/logger.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { seededRandom } from '../helpers/faults.js';

const { pool, freshSchema } = useDatabase();

const relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop({ timeoutMs: 1000 })));
});

const KEYS = 20;
const PER_KEY = 30;

describe('several relays on one schema', () => {
  it('publish every message, and each key first-delivers in commit order despite transient failures', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    // One transport shared by the three relays, so `published` is the global delivery order.
    const transport = createMemoryTransport();
    const random = seededRandom(20240501);
    let failures = 0;
    transport.failWhen(() => {
      if (random() >= 0.1) return undefined;
      failures++;
      return new Error('transient broker failure');
    });
    const claimedBy = [0, 0, 0];
    for (let r = 0; r < 3; r++) {
      const relay = createRelay({
        pool,
        schema,
        transport,
        id: `relay-${r}`,
        logger: silentLogger,
        batchSize: 25,
        minPollIntervalMs: 5,
        maxPollIntervalMs: 50,
        leaseMs: 5_000,
        policies: { default: { maxAttempts: 20, backoff: { initialMs: 10, maxMs: 40, jitter: 'full' } } },
      });
      relays.push(relay);
      relay.on('relay:batch-claimed', ({ size }) => (claimedBy[r]! += size));
      await relay.start();
    }

    // Commit while the relays run: 10 transactions, each carrying the next 3 messages of every key.
    for (let round = 0; round < PER_KEY / 3; round++) {
      const batch: MessageInput[] = [];
      for (let n = round * 3 + 1; n <= round * 3 + 3; n++) {
        for (let k = 0; k < KEYS; k++) batch.push({ topic: 'accounts.changed', key: `key-${k}`, payload: { k, n } });
      }
      await outbox.enqueue(pool, batch);
    }

    await transport.waitForCount(KEYS * PER_KEY, 30_000);
    await waitFor('the outbox to be empty', async () => {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox`);
      return rows[0].n === 0;
    });
    const { rows: dead } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".dead_letters`);
    expect(dead[0].n).toBe(0);
    expect(failures).toBeGreaterThan(0);

    const published = transport.published as OutboxMessage[];
    const highest = new Map<string, number>();
    const violations: string[] = [];
    for (const message of published) {
      const { n } = JSON.parse(message.payload.toString()) as { n: number };
      const key = message.key!;
      const seen = highest.get(key) ?? 0;
      // A repeat (n <= seen) is allowed; a new message must be exactly the next one.
      if (n > seen + 1) violations.push(`${key}: ${n} delivered before ${seen + 1}`);
      if (n > seen) highest.set(key, n);
    }
    expect(violations).toEqual([]);
    expect(new Set(published.map((m) => m.id)).size).toBe(KEYS * PER_KEY);
    expect([...highest.values()]).toEqual(Array(KEYS).fill(PER_KEY));
    // All three relays took part.
    expect(claimedBy.every((n) => n > 0), `messages claimed per relay: ${claimedBy.join(', ')}`).toBe(true);
  });
});
