/** Small measurement helpers shared by the benchmarks. */

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function rate(count: number, ms: number): number {
  return round((count / ms) * 1000);
}

export function line(label: string, value: string): void {
  process.stdout.write(`${label.padEnd(44)} ${value}\n`);
}

/** A payload of about the size of a typical domain event (~200 bytes of JSON). */
export function samplePayload(i: number): Record<string, unknown> {
  return {
    orderId: `order-${i}`,
    customerId: `customer-${i % 9973}`,
    amount: { value: (i % 10_000) + 0.99, currency: 'EUR' },
    items: 3,
    placedAt: '2026-11-21T12:00:00.000Z',
    note: 'benchmark message with a payload of realistic size',
  };
}

export function env(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}
