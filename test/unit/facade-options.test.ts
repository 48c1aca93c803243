import { describe, it, expect } from 'vitest';
import { checkFacadeCommon } from '../../adapters/shared/facade-options.js';
import type { Problem } from '../../src/errors.js';
import { createOutbox, isOutbox } from '../../src/outbox/enqueue.js';

const check = (options: Record<string, unknown>) => {
  const problems: Problem[] = [];
  return { common: checkFacadeCommon(options, problems), fields: problems.map((p) => p.field) };
};

describe('the options every producer wrapper shares', () => {
  it('direct sends give up within seconds by default, not after the relay minutes-long policy', () => {
    const { common } = check({ outsideTransaction: 'send' });
    expect(common?.retryPolicy).toMatchObject({ maxAttempts: 5, backoff: { initialMs: 100, multiplier: 2, maxMs: 2_000, jitter: 'full' } });
  });

  it('merges retry over the direct default field by field, backoff included', () => {
    const { common } = check({ outsideTransaction: 'send', retry: { maxAttempts: 3, backoff: { maxMs: 500 } } });
    expect(common?.retryPolicy).toMatchObject({ maxAttempts: 3, backoff: { initialMs: 100, maxMs: 500 } });
  });

  it('accepts only an outbox made by createOutbox', () => {
    const outbox = createOutbox({ schema: 'shop' });
    expect(isOutbox(outbox)).toBe(true);
    expect(check({ outbox }).common?.outbox).toBe(outbox);
    expect(check({ outbox: { schema: 'shop', enqueue: async () => [] } }).fields).toEqual(['outbox']);
  });

  it('lists every problem at once, naming retry fields under retry', () => {
    const { common, fields } = check({ outsideTransaction: 'later', retry: { maxAttempts: 0 } });
    expect(common).toBeUndefined();
    expect(fields).toEqual(['outsideTransaction', 'retry', 'retry.maxAttempts']);
  });
});
