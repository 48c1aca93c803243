import { describe, expect, it } from 'vitest';
import { createCallsInFlight } from '../../adapters/shared/calls-in-flight.js';

describe('createCallsInFlight', () => {
  it('is idle at once with no call under way', async () => {
    const calls = createCallsInFlight();
    const started = Date.now();
    await calls.idle(10_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('wakes every waiter when the last call ends, not before', async () => {
    const calls = createCallsInFlight();
    calls.begin();
    calls.begin();
    let woken = 0;
    const waiting = [calls.idle(10_000), calls.idle(10_000)].map((p) => p.then(() => (woken += 1)));
    calls.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(woken).toBe(0);
    calls.end();
    await Promise.all(waiting);
    expect(woken).toBe(2);
  });

  it('gives up waiting after the timeout', async () => {
    const calls = createCallsInFlight();
    calls.begin();
    const started = Date.now();
    await calls.idle(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });
});
