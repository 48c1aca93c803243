/**
 * Values in and out as with pg (node-postgres), so postbox's SQL code and yours behave the same on
 * PGlite and on PostgreSQL:
 * - results: int8 as a string (PGlite: number), bytea as a Buffer (PGlite: Uint8Array), and the
 *   arrays of both; json/jsonb parsed, timestamptz as a Date, numeric as a string, as PGlite does.
 * - parameters: converted by their JS value whatever the parameter's type, as pg does: null and
 *   undefined are NULL, bytes are bytea hex, a Date is an ISO time, an array is an array literal,
 *   another object is JSON, anything else its toString().
 */
import type { PGliteQueryOptions } from './pglite-like.js';

const Oid = { Bytea: 17, Int8: 20, Int8Array: 1016, ByteaArray: 1001 } as const;

const parseBytea = (text: string): Buffer =>
  text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : Buffer.from(unescapeBytea(text), 'latin1');

/** bytea_output = 'escape' (not the default, but a database may set it). */
function unescapeBytea(text: string): string {
  return text.replace(/\\(\\|[0-7]{3})/g, (_m, code: string) => (code === '\\' ? '\\' : String.fromCharCode(parseInt(code, 8))));
}

export const PG_PARSERS: NonNullable<PGliteQueryOptions['parsers']> = Object.freeze({
  [Oid.Int8]: (text: string) => text,
  [Oid.Bytea]: parseBytea,
  [Oid.Int8Array]: (text: string) => parseArray(text, (e) => e),
  [Oid.ByteaArray]: (text: string) => parseArray(text, parseBytea),
});

/** Every parameter, whatever its type OID, goes through toPgText (PGlite asks per OID). */
export const PG_SERIALIZERS: NonNullable<PGliteQueryOptions['serializers']> = new Proxy(
  {},
  { get: (_target, key) => (typeof key === 'string' && /^\d+$/.test(key) ? toPgText : undefined) },
);

/** pg's prepareValue, in text form. */
export function toPgText(value: unknown): string {
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return arrayLiteral(value);
  if (typeof value === 'object' && value !== null) {
    const custom = value as { toPostgres?: (prepare: (v: unknown) => unknown) => unknown };
    if (typeof custom.toPostgres === 'function') return toPgText(custom.toPostgres(toPgText));
    return JSON.stringify(value);
  }
  return String(value);
}

function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((item) => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return arrayLiteral(item);
    return `"${toPgText(item).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

/** Parses a PostgreSQL array literal ({a,"b c",NULL,{1,2}}) with a parser for the elements. */
export function parseArray(text: string, element: (text: string) => unknown): unknown[] {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0; // dimension decoration: [0:1]={...}
  const read = (): unknown[] => {
    const out: unknown[] = [];
    i++; // '{'
    while (i < text.length && text[i] !== '}') {
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '{') {
        out.push(read());
        continue;
      }
      if (text[i] === '"') {
        let value = '';
        i++;
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i++];
        }
        i++;
        out.push(element(value));
        continue;
      }
      const end = [text.indexOf(',', i), text.indexOf('}', i)].filter((n) => n >= 0).reduce((a, b) => Math.min(a, b));
      const raw = text.slice(i, end);
      out.push(raw === 'NULL' ? null : element(raw));
      i = end;
    }
    i++; // '}'
    return out;
  };
  return read();
}
