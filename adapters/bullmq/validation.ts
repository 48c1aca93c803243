/** Option checks of this adapter: the shared ones (../shared/option-checks.ts) and BullMQ queue names. */
import { show } from '../shared/option-checks.js';

export * from '../shared/option-checks.js';

/**
 * What is wrong with a BullMQ queue name (or prefix), or undefined when it is fine: a non-empty
 * string without ':' (BullMQ builds its Redis keys as prefix:queue:..., and refuses ':' in names).
 */
export function queueNameProblem(value: unknown, noun = 'queue name'): string | undefined {
  if (typeof value !== 'string') return `must be a string (a ${noun}), got ${show(value)}`;
  if (value.length === 0) return `must not be empty; give a ${noun}`;
  if (value.includes(':')) return `must not contain ':' (BullMQ separates its Redis key parts with it), got ${show(value)}`;
  if (Buffer.byteLength(value, 'utf8') > 255) return `must be at most 255 bytes of UTF-8; use a shorter ${noun}`;
  return undefined;
}
