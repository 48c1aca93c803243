import type { Middleware } from './types.js';

/**
 * Combines middlewares into one; the first one given is the outermost:
 * compose(a, b)(h) === a(b(h)).
 */
export function compose(...middlewares: readonly Middleware[]): Middleware {
  return (handler) => middlewares.reduceRight((next, middleware) => middleware(next), handler);
}
