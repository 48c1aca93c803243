/**
 * The part of `routes` every adapter shares: an object keyed by postbox topic pattern ('*' one
 * word, '#' any number of words), validated with every problem reported at once, and a router
 * that finds a topic's destination once and remembers it.
 */
import { createPatternTable, duplicatePatterns, patternProblem } from '../../src/topic.js';
import { isRecord, show, type Problems } from './option-checks.js';

export type RouteTable<R> = ReadonlyArray<readonly [pattern: string, route: R]>;

export interface RouteSpec<R> {
  /** An example of the whole option, for the error when it is not an object. */
  readonly example: string;
  /** The shape of one route, e.g. `{ topic } naming a Kafka topic`. */
  readonly shape: string;
  /** Checks one route (an object), pushing its problems; undefined when it is unusable. */
  check(route: Record<string, unknown>, path: string, problems: Problems): R | undefined;
}

export function checkRouteTable<R>(input: unknown, problems: Problems, spec: RouteSpec<R>): RouteTable<R> {
  if (input === undefined) return [];
  if (!isRecord(input)) {
    problems.push({ field: 'routes', message: `must be an object keyed by topic pattern, e.g. ${spec.example}, got ${show(input)}` });
    return [];
  }
  const routes: Array<readonly [string, R]> = [];
  for (const [pattern, route] of Object.entries(input)) {
    const path = `routes[${JSON.stringify(pattern)}]`;
    const problem = patternProblem(pattern);
    if (problem !== undefined) problems.push({ field: path, message: `is not a valid topic pattern: it ${problem}` });
    if (!isRecord(route)) {
      problems.push({ field: path, message: `must be an object ${spec.shape}, got ${show(route)}` });
      continue;
    }
    const checked = spec.check(route, path, problems);
    if (problem === undefined && checked !== undefined) routes.push(Object.freeze([pattern, checked] as const));
  }
  for (const duplicate of duplicatePatterns(routes.map(([pattern]) => pattern))) {
    problems.push({ field: `routes[${JSON.stringify(duplicate)}]`, message: 'matches exactly the same topics as another route; keep only one of them' });
  }
  return Object.freeze(routes);
}

/** Topics seen at once, at most, before the router forgets them all (topics are few in practice). */
const CACHE_LIMIT = 10_000;

/**
 * A router: `resolve(topic, route)` is called once per topic with the most specific matching
 * route (or undefined), and its answer is remembered.
 */
export function createCachedRouter<R, D>(routes: RouteTable<R>, resolve: (topic: string, route: R | undefined) => D): (topic: string) => D {
  const table = createPatternTable(routes);
  const cache = new Map<string, D>();
  return (topic) => {
    const known = cache.get(topic);
    if (known !== undefined) return known;
    const destination = resolve(topic, table.lookup(topic));
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(topic, destination);
    return destination;
  };
}
