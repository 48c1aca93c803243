import { NonRetryableError } from '../errors.js';
import type { ConsumedMessage } from './types.js';

export type ConsumedMessageFields = Omit<ConsumedMessage, 'json'>;

/** Builds the ConsumedMessage an adapter hands to handlers. json() parses once and caches. */
export function createConsumedMessage(fields: ConsumedMessageFields): ConsumedMessage {
  let parsed: { value: unknown } | undefined;
  return Object.freeze({
    ...fields,
    json<T>(): T {
      if (parsed === undefined) {
        try {
          parsed = { value: JSON.parse(fields.payload.toString('utf8')) };
        } catch (error) {
          throw new NonRetryableError(
            `message ${fields.id} on ${fields.topic}: payload is not valid JSON (content type ${fields.contentType})`,
            { cause: error },
          );
        }
      }
      return parsed.value as T;
    },
  });
}
