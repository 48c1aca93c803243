import { describe, expect, it } from 'vitest';
import { claimTransactionSql, quoteLiteral } from '../../src/outbox/sql/claim.js';

describe('quoteLiteral (the claim inlines its token)', () => {
  it('doubles single quotes', () => {
    expect(quoteLiteral("relay'1#2")).toBe("'relay''1#2'");
  });

  it('uses the E form and doubles backslashes when the value has one', () => {
    expect(quoteLiteral('a\\b')).toBe(" E'a\\\\b'");
  });

  it('leaves ordinary tokens as they are', () => {
    expect(quoteLiteral('host:123:abc#7')).toBe("'host:123:abc#7'");
  });
});

describe('claimTransactionSql', () => {
  const lock = [1, 2] as const;

  it('takes the advisory lock in a statement before the claim, all in one transaction', () => {
    const sql = claimTransactionSql('"s"', undefined, lock, { limit: 500, leaseMs: 30_000, token: 'r#1' });
    const statements = sql.split(';').map((part) => part.trim().split(/\s+/)[0]);
    expect(statements.slice(0, 3)).toEqual(['BEGIN', 'SET', 'SELECT']);
    expect(sql.indexOf('pg_advisory_xact_lock(1, 2)')).toBeLessThan(sql.indexOf('WITH picked'));
    expect(sql.trim().endsWith('COMMIT')).toBe(true);
    expect(sql).toContain('LIMIT 500');
    expect(sql).toContain("'r#1'");
    expect(sql).not.toMatch(/\$\d/);
  });

  it.each([
    ['limit', { limit: 1.5, leaseMs: 1000, token: 't' }],
    ['leaseMs', { limit: 10, leaseMs: Number.NaN, token: 't' }],
  ])('refuses to inline a %s that is not a safe integer', (_name, claim) => {
    expect(() => claimTransactionSql('"s"', undefined, lock, claim)).toThrow(TypeError);
  });
});
