/**
 * Checks per-key order of what a consumer saw: the first delivery of each message must come in
 * sequence order within its key. Repeats of an already delivered message are allowed anywhere
 * (at-least-once: n, n, n+1), a new n+1 before n is not.
 */
export function orderViolations(deliveries: ReadonlyArray<{ key: string; n: number }>): string[] {
  const seen = new Map<string, Set<number>>();
  const next = new Map<string, number>();
  const violations: string[] = [];
  for (const { key, n } of deliveries) {
    const keySeen = seen.get(key) ?? new Set<number>();
    seen.set(key, keySeen);
    if (keySeen.has(n)) continue;
    const expected = next.get(key) ?? 0;
    if (n !== expected) violations.push(`key ${key}: first delivery of ${n} when ${expected} was expected`);
    keySeen.add(n);
    next.set(key, Math.max(expected, n + 1));
  }
  return violations;
}
