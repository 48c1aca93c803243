import { describe, expect, it } from 'vitest';
import { orderViolations } from '../helpers/order.js';

describe('orderViolations (the checker the ordering proofs rely on)', () => {
  it('accepts in-order deliveries with repeats of delivered messages', () => {
    const seq = [0, 0, 1, 0, 2, 2, 1, 3].map((n) => ({ key: 'k', n }));
    expect(orderViolations(seq)).toEqual([]);
  });

  it('reports a new message delivered before an earlier one of its key', () => {
    const seq = [0, 2, 1].map((n) => ({ key: 'k', n }));
    expect(orderViolations(seq)).toHaveLength(2);
  });

  it('reports a gap even when the missing message never arrives', () => {
    expect(orderViolations([{ key: 'a', n: 1 }])).toEqual(['key a: first delivery of 1 when 0 was expected']);
  });

  it('checks keys independently', () => {
    const seq = [
      { key: 'a', n: 0 },
      { key: 'b', n: 0 },
      { key: 'b', n: 1 },
      { key: 'a', n: 1 },
    ];
    expect(orderViolations(seq)).toEqual([]);
  });
});
