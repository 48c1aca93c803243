/**
 * The shape of a config file: known fields at every level (a typo is an error, never silently
 * ignored), objects where objects belong. Values are checked after merging (resolve.ts), so a
 * file value overridden by a flag is not reported.
 */
import type { Problem } from '../../errors.js';
import type { ShapedFile } from './layers.js';
import { RELAY_NUMBER_FIELDS, type LoadedFile } from './types.js';

const ROOT_FIELDS = ['$schema', 'database', 'transport', 'policies', 'relay', 'metrics', 'logLevel'];
const DATABASE_FIELDS = ['url', 'schema'];
const RELAY_FIELDS = [...RELAY_NUMBER_FIELDS, 'listen'];
const METRICS_FIELDS = ['port', 'host'];

export function checkFileShape(file: LoadedFile, problems: Problem[]): ShapedFile {
  const where = ` (in ${file.path})`;
  const data = file.data;
  if (!isRecord(data)) {
    problems.push({ field: '(config file)', message: `must hold an object like { "database": { "url": "postgres://..." } }, got ${typeName(data)}${where}` });
    return {};
  }
  const known = (value: Record<string, unknown>, fields: readonly string[], path: string, what: string): void => {
    for (const field of Object.keys(value)) {
      if (!fields.includes(field)) {
        problems.push({ field: path === '' ? field : `${path}.${field}`, message: `is not a ${what} setting; allowed: ${fields.filter((f) => f !== '$schema').join(', ')}${where}` });
      }
    }
  };
  const section = (name: string, fields: readonly string[] | undefined, what: string): Record<string, unknown> | undefined => {
    const value = data[name];
    if (value === undefined) return undefined;
    if (!isRecord(value)) {
      problems.push({ field: name, message: `must be an object, got ${typeName(value)}${where}` });
      return undefined;
    }
    if (fields !== undefined) known(value, fields, name, what);
    return value;
  };

  known(data, ROOT_FIELDS, '', 'config file');
  const database = section('database', DATABASE_FIELDS, 'database');
  const relay = section('relay', RELAY_FIELDS, 'relay');
  const metrics = section('metrics', METRICS_FIELDS, 'metrics');
  const transportSection = section('transport', undefined, 'transport');
  let transport: ShapedFile['transport'];
  if (transportSection !== undefined) {
    const { type, ...options } = transportSection;
    if (type === undefined) {
      problems.push({ field: 'transport.type', message: `is required: "rabbitmq", "kafka" or "bullmq"; the other fields are that adapter's options${where}` });
    } else {
      transport = { type, options };
    }
  }
  return {
    ...(database && { database: { url: database.url, schema: database.schema } }),
    ...(transport && { transport }),
    ...(data.policies !== undefined && { policies: data.policies }),
    ...(relay && { relay: Object.fromEntries(Object.entries(relay).filter(([field]) => RELAY_FIELDS.includes(field))) }),
    ...(metrics && { metrics: { port: metrics.port, host: metrics.host } }),
    ...(data.logLevel !== undefined && { logLevel: data.logLevel }),
  };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How a bad value is shown in a message. Strings are shown only when `reveal` is set (names,
 * levels) and they cannot be a URL: a URL may hold a credential.
 */
export function typeName(value: unknown, reveal = false): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return reveal && value.length <= 40 && !/[@:/]/.test(value) ? JSON.stringify(value) : 'a string';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}
