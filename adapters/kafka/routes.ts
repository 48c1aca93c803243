/**
 * Which Kafka topic a postbox topic is published to. `routes` maps postbox topic patterns ('*'
 * one word, '#' any number of words; the most specific pattern wins) to a Kafka topic. A postbox
 * topic no route matches is published to the Kafka topic of the same name, which must then be a
 * legal Kafka topic name ([a-zA-Z0-9._-], 1 to 249 characters); otherwise its messages fail
 * permanently, with an error saying to add a route.
 */
import { duplicatePatterns, createPatternTable, patternProblem } from '../../src/topic.js';
import { checkKafkaTopic, checkKnownFields, isRecord, kafkaTopicProblem, show, type Problems } from './validation.js';

/** Where the messages of matching postbox topics go. */
export interface KafkaRoute {
  readonly topic: string;
}

export type Destination = { readonly ok: true; readonly topic: string } | { readonly ok: false; readonly problem: string };

export type ResolvedRoutes = ReadonlyArray<readonly [pattern: string, route: KafkaRoute]>;

export function createRouter(routes: ResolvedRoutes): (topic: string) => Destination {
  const table = createPatternTable(routes);
  const cache = new Map<string, Destination>();
  return (topic) => {
    let destination = cache.get(topic);
    if (destination !== undefined) return destination;
    const route = table.lookup(topic);
    if (route !== undefined) {
      destination = { ok: true, topic: route.topic };
    } else {
      const problem = kafkaTopicProblem(topic);
      destination =
        problem === undefined
          ? { ok: true, topic }
          : {
              ok: false,
              problem:
                `no route matches postbox topic ${JSON.stringify(topic)} and it is not a legal Kafka topic name: it ${problem}. ` +
                `Add a route for it (routes: { ${JSON.stringify(topic)}: { topic: "a-kafka-topic" } })`,
            };
    }
    if (cache.size >= 10_000) cache.clear();
    cache.set(topic, destination);
    return destination;
  };
}

export function checkRoutes(input: unknown, problems: Problems): ResolvedRoutes {
  if (input === undefined) return [];
  if (!isRecord(input)) {
    problems.push({ field: 'routes', message: `must be an object keyed by topic pattern, e.g. { "orders.#": { topic: "orders" } }, got ${show(input)}` });
    return [];
  }
  const routes: Array<readonly [string, KafkaRoute]> = [];
  for (const [pattern, route] of Object.entries(input)) {
    const path = `routes[${JSON.stringify(pattern)}]`;
    const problem = patternProblem(pattern);
    if (problem !== undefined) problems.push({ field: path, message: `is not a valid topic pattern: it ${problem}` });
    if (!isRecord(route)) {
      problems.push({ field: path, message: `must be an object { topic } naming a Kafka topic, got ${show(route)}` });
      continue;
    }
    checkKnownFields(route, ['topic'], path, problems);
    const topicOk = checkKafkaTopic(route.topic, `${path}.topic`, problems);
    if (problem === undefined && topicOk) routes.push(Object.freeze([pattern, Object.freeze({ topic: route.topic as string })]));
  }
  for (const duplicate of duplicatePatterns(routes.map(([pattern]) => pattern))) {
    problems.push({ field: `routes[${JSON.stringify(duplicate)}]`, message: 'matches exactly the same topics as another route; keep only one of them' });
  }
  return Object.freeze(routes);
}
