/** Option checks of this adapter: the shared ones (../shared/option-checks.ts) and Kafka topic names. */
import { show, type Problems } from '../shared/option-checks.js';

export * from '../shared/option-checks.js';

/** Longest Kafka topic name. */
export const MAX_KAFKA_TOPIC_LENGTH = 249;
const KAFKA_TOPIC = /^[a-zA-Z0-9._-]+$/;

/**
 * What is wrong with a Kafka topic name, or undefined when it is legal: 1 to 249 characters from
 * [a-zA-Z0-9._-], and not "." or "..".
 */
export function kafkaTopicProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string naming a Kafka topic, got ${show(value)}`;
  if (value.length === 0) return 'must not be empty; name a Kafka topic';
  if (value.length > MAX_KAFKA_TOPIC_LENGTH) {
    return `must be at most ${MAX_KAFKA_TOPIC_LENGTH} characters (Kafka's limit), got ${value.length}`;
  }
  if (!KAFKA_TOPIC.test(value)) {
    return `may only contain ASCII letters, digits, '.', '_' and '-' (Kafka's rule), got ${show(value)}`;
  }
  if (value === '.' || value === '..') return `must not be "." or ".." (Kafka reserves them)`;
  return undefined;
}

export function checkKafkaTopic(value: unknown, field: string, problems: Problems): boolean {
  const problem = kafkaTopicProblem(value);
  if (problem !== undefined) problems.push({ field, message: problem });
  return problem === undefined;
}
