/** The schema postbox's tables live in; one per application, or one per test. */
export const DEFAULT_SCHEMA = 'postbox';

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Returns what is wrong with a schema name, or undefined when it is a plain identifier. */
export function schemaProblem(schema: unknown): string | undefined {
  if (typeof schema !== 'string' || !PLAIN_IDENTIFIER.test(schema)) {
    return `must be a plain identifier (lower-case letters, digits and _, starting with a letter or _, at most 63 characters), got ${JSON.stringify(schema)}`;
  }
  return undefined;
}

/** Quotes an identifier for SQL. Callers validate names first; this is the second line of defence. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
