/**
 * Which Kafka topic a postbox topic is published to. `routes` maps postbox topic patterns ('*'
 * one word, '#' any number of words; the most specific pattern wins) to a Kafka topic. A postbox
 * topic no route matches is published to the Kafka topic of the same name, which must then be a
 * legal Kafka topic name ([a-zA-Z0-9._-], 1 to 249 characters); otherwise its messages fail
 * permanently, with an error saying to add a route.
 */
import { checkRouteTable, createCachedRouter, type RouteTable } from '../shared/route-table.js';
import { checkKafkaTopic, checkKnownFields, kafkaTopicProblem, type Problems } from './validation.js';

/** Where the messages of matching postbox topics go. */
export interface KafkaRoute {
  readonly topic: string;
}

export type Destination = { readonly ok: true; readonly topic: string } | { readonly ok: false; readonly problem: string };

export type ResolvedRoutes = RouteTable<KafkaRoute>;

export function createRouter(routes: ResolvedRoutes): (topic: string) => Destination {
  return createCachedRouter(routes, (topic, route): Destination => {
    if (route !== undefined) return { ok: true, topic: route.topic };
    const problem = kafkaTopicProblem(topic);
    return problem === undefined
      ? { ok: true, topic }
      : {
          ok: false,
          problem:
            `no route matches postbox topic ${JSON.stringify(topic)} and it is not a legal Kafka topic name: it ${problem}. ` +
            `Add a route for it (routes: { ${JSON.stringify(topic)}: { topic: "a-kafka-topic" } })`,
        };
  });
}

export function checkRoutes(input: unknown, problems: Problems): ResolvedRoutes {
  return checkRouteTable<KafkaRoute>(input, problems, {
    example: '{ "orders.#": { topic: "orders" } }',
    shape: '{ topic } naming a Kafka topic',
    check(route, path) {
      checkKnownFields(route, ['topic'], path, problems);
      return checkKafkaTopic(route.topic, `${path}.topic`, problems) ? Object.freeze({ topic: route.topic as string }) : undefined;
    },
  });
}
