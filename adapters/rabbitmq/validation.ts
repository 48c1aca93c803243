/** Option checks of this adapter: the shared ones (../shared/option-checks.ts) and AMQP names and arguments. */
import { checkOptional, isRecord, show, type Problems } from '../shared/option-checks.js';

export * from '../shared/option-checks.js';

/** AMQP short strings (names of queues, exchanges, routing keys) hold at most 255 bytes. */
export const MAX_SHORT_STRING_BYTES = 255;

/**
 * What is wrong with an AMQP name (queue or exchange), or undefined when it is fine:
 * a string of 1 to 255 bytes. `allowEmpty` accepts '' (the default exchange).
 */
export function nameProblem(value: unknown, noun: string, allowEmpty = false): string | undefined {
  if (typeof value !== 'string') return `must be a string naming the ${noun}, got ${show(value)}`;
  if (value.length === 0 && !allowEmpty) return `must not be empty; name the ${noun}`;
  if (Buffer.byteLength(value) > MAX_SHORT_STRING_BYTES) {
    return `must be at most ${MAX_SHORT_STRING_BYTES} bytes (an AMQP short string); use a shorter ${noun} name`;
  }
  return undefined;
}

export function checkName(value: unknown, noun: string, field: string, problems: Problems, allowEmpty = false): boolean {
  const problem = nameProblem(value, noun, allowEmpty);
  if (problem !== undefined) problems.push({ field, message: problem });
  return problem === undefined;
}

/** x-arguments / binding arguments: a plain object. */
export function checkArguments(value: unknown, field: string, problems: Problems): void {
  checkOptional(value, isRecord, 'must be a plain object of x-arguments, e.g. { "x-max-length": 1000 }', field, problems);
}
