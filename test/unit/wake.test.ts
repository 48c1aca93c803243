import { afterEach, beforeEach, describe, it, expect, vi } from 'vitest';
import { createWaker } from '../../src/relay/wake.js';
import { markEnqueued, onEnqueued, signalEnqueued, transactionEnded } from '../../src/signals.js';

/** Tracks whether a promise has settled, without awaiting it. */
function track(promise: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  void promise.then(() => {
    state.done = true;
  });
  return state;
}

describe('createWaker', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps for the given time when nobody wakes it', async () => {
    const waker = createWaker();
    const sleep = track(waker.sleep(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(sleep.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(sleep.done).toBe(true);
  });

  it('returns at once from a sleep when woken during it, and clears its timer', async () => {
    const waker = createWaker();
    const sleep = track(waker.sleep(60_000));
    await vi.advanceTimersByTimeAsync(10);
    waker.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(sleep.done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('makes the next sleep return at once when woken while not sleeping, only once', async () => {
    const waker = createWaker();
    waker.wake();
    waker.wake();
    const first = track(waker.sleep(1000));
    await vi.advanceTimersByTimeAsync(0);
    expect(first.done).toBe(true);
    const second = track(waker.sleep(1000));
    await vi.advanceTimersByTimeAsync(500);
    expect(second.done).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(second.done).toBe(true);
  });

  it('does not carry a wake that ended a sleep over to the next sleep', async () => {
    const waker = createWaker();
    const first = track(waker.sleep(1000));
    waker.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(first.done).toBe(true);
    const second = track(waker.sleep(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(second.done).toBe(false);
  });
});

describe('signalEnqueued / onEnqueued', () => {
  it('calls the listeners of the signalled schema only, until they unsubscribe', () => {
    const a = vi.fn();
    const b = vi.fn();
    const stopA = onEnqueued('schema_a', a);
    const stopB = onEnqueued('schema_b', b);
    signalEnqueued('schema_a');
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).not.toHaveBeenCalled();
    stopA();
    signalEnqueued('schema_a');
    expect(a).toHaveBeenCalledTimes(1);
    stopB();
    signalEnqueued('schema_b');
    expect(b).not.toHaveBeenCalled();
  });

  it('calls every listener of a schema', () => {
    const a = vi.fn();
    const b = vi.fn();
    const stops = [onEnqueued('schema_c', a), onEnqueued('schema_c', b)];
    signalEnqueued('schema_c');
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    for (const stop of stops) stop();
  });
});

describe('transactionEnded (wake-up after COMMIT)', () => {
  it('signals the schemas a connection enqueued to once its transaction commits, and only then', () => {
    const connection = {};
    const woken: string[] = [];
    const off = [onEnqueued('a', () => woken.push('a')), onEnqueued('b', () => woken.push('b'))];
    markEnqueued(connection, 'a');
    expect(woken).toEqual([]);
    transactionEnded(connection, true);
    expect(woken).toEqual(['a']);
    transactionEnded(connection, true);
    expect(woken).toEqual(['a']);
    off.forEach((unsubscribe) => unsubscribe());
  });

  it('forgets a rolled-back transaction without waking anyone', () => {
    const connection = {};
    const woken: string[] = [];
    const off = onEnqueued('a', () => woken.push('a'));
    markEnqueued(connection, 'a');
    transactionEnded(connection, false);
    transactionEnded(connection, true);
    expect(woken).toEqual([]);
    off();
  });
});
