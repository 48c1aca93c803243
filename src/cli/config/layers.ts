/**
 * The three sources of settings, each flattened to the same paths so that resolve.ts can pick
 * a winner per field: flags > environment variables > config file. A value keeps a label naming
 * where it came from ("from --batch-size", "in postbox.config.json"), for error messages.
 */
import { TRANSPORT_TYPES, type LoadedFile, type RelayNumberField, type TransportType } from './types.js';

export interface Setting {
  readonly value: unknown;
  /** "from --schema", "from POSTBOX_SCHEMA", "in postbox.config.json". */
  readonly label: string;
}

/**
 * Paths: database.url, database.schema, transport.type, transport.options (file only),
 * broker.rabbitmq | broker.kafka | broker.bullmq, policies, relay.<field>, metrics.port,
 * metrics.host, logLevel.
 */
export type Layer = Map<string, Setting>;

export type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;
export type Env = Readonly<Record<string, string | undefined>>;

/** Flag name -> path. --policies is not here: its file is loaded first (see load.ts). */
const FLAG_PATHS: ReadonlyArray<readonly [flag: string, path: string]> = [
  ['database-url', 'database.url'],
  ['schema', 'database.schema'],
  ['transport', 'transport.type'],
  ['rabbitmq-url', 'broker.rabbitmq'],
  ['kafka-brokers', 'broker.kafka'],
  ['redis-url', 'broker.bullmq'],
  ['batch-size', 'relay.batchSize'],
  ['lease-ms', 'relay.leaseMs'],
  ['metrics-port', 'metrics.port'],
  ['log-level', 'logLevel'],
];

/** Environment variable -> path. POSTBOX_POLICIES and POSTBOX_CONFIG name files (load.ts). */
export const ENV_PATHS: ReadonlyArray<readonly [variable: string, path: string]> = [
  ['DATABASE_URL', 'database.url'],
  ['POSTBOX_SCHEMA', 'database.schema'],
  ['POSTBOX_TRANSPORT', 'transport.type'],
  ['POSTBOX_RABBITMQ_URL', 'broker.rabbitmq'],
  ['POSTBOX_KAFKA_BROKERS', 'broker.kafka'],
  ['POSTBOX_REDIS_URL', 'broker.bullmq'],
  ['POSTBOX_BATCH_SIZE', 'relay.batchSize'],
  ['POSTBOX_LEASE_MS', 'relay.leaseMs'],
  ['POSTBOX_METRICS_PORT', 'metrics.port'],
  ['POSTBOX_LOG_LEVEL', 'logLevel'],
];

const NUMERIC_PATHS = new Set(['relay.batchSize', 'relay.leaseMs', 'metrics.port']);

export function flagLayer(flags: Flags): Layer {
  const layer: Layer = new Map();
  for (const [flag, path] of FLAG_PATHS) {
    const raw = flags[flag];
    if (typeof raw === 'string') layer.set(path, { value: fromText(path, raw), label: `from --${flag}` });
  }
  return layer;
}

export function envLayer(env: Env): Layer {
  const layer: Layer = new Map();
  for (const [variable, path] of ENV_PATHS) {
    const raw = env[variable];
    if (raw !== undefined && raw.trim() !== '') layer.set(path, { value: fromText(path, raw), label: `from ${variable}` });
  }
  return layer;
}

/** The flag that sets a path, for messages ("--rabbitmq-url"). */
export function flagFor(path: string): string | undefined {
  return FLAG_PATHS.find(([, p]) => p === path)?.[0];
}

/**
 * Flattens a config file that passed the shape check (validate.ts): only the fields it has.
 * The transport's broker field (url / brokers / connection) is also kept inside transport.options.
 */
export function fileLayer(file: LoadedFile, shaped: ShapedFile): Layer {
  const label = `in ${file.path}`;
  const layer: Layer = new Map();
  const set = (path: string, value: unknown): void => {
    if (value !== undefined) layer.set(path, { value, label });
  };
  set('database.url', shaped.database?.url);
  set('database.schema', shaped.database?.schema);
  if (shaped.transport !== undefined) {
    set('transport.type', shaped.transport.type);
    set('transport.options', shaped.transport.options);
  }
  set('policies', shaped.policies);
  for (const [field, value] of Object.entries(shaped.relay ?? {})) set(`relay.${field}`, value);
  set('metrics.port', shaped.metrics?.port);
  set('metrics.host', shaped.metrics?.host);
  set('logLevel', shaped.logLevel);
  return layer;
}

/** A config file's content after the shape check: known fields only, values not yet checked. */
export interface ShapedFile {
  readonly database?: { readonly url?: unknown; readonly schema?: unknown };
  readonly transport?: { readonly type: unknown; readonly options: Record<string, unknown> };
  readonly policies?: unknown;
  readonly relay?: Partial<Record<RelayNumberField | 'listen', unknown>>;
  readonly metrics?: { readonly port?: unknown; readonly host?: unknown };
  readonly logLevel?: unknown;
}

function fromText(path: string, raw: string): unknown {
  const text = raw.trim();
  if (path === 'broker.kafka') return text.split(',').map((broker) => broker.trim()).filter((broker) => broker !== '');
  if (NUMERIC_PATHS.has(path) && /^-?\d+$/.test(text)) return Number(text);
  return text;
}

export function isTransportType(value: unknown): value is TransportType {
  return typeof value === 'string' && (TRANSPORT_TYPES as readonly string[]).includes(value);
}
