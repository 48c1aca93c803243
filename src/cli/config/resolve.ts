/**
 * Merges flags, environment variables and the config file, field by field (flags > env > file),
 * and checks every value, collecting every problem instead of stopping at the first. Pure: the
 * files were read by load.ts.
 */
import { DEFAULT_SCHEMA, schemaProblem } from '../../db/schema.js';
import { ConfigError, type Problem } from '../../errors.js';
import type { LogLevel } from '../../logger.js';
import { resolveRelayOptions, type RelayOptions } from '../../relay/options.js';
import { compileRetryPolicies } from '../../retry/policy.js';
import type { RetryPoliciesInput } from '../../retry/types.js';
import { envLayer, fileLayer, flagFor, flagLayer, isTransportType, type Env, type Flags, type Layer, type Setting } from './layers.js';
import { BROKER_FIELD, LOG_LEVELS, RELAY_NUMBER_FIELDS, TRANSPORT_TYPES, type CliConfig, type LoadedFile, type RelaySettings, type TransportType } from './types.js';
import { checkFileShape, typeName } from './validate.js';

export interface ResolveInput {
  readonly flags: Flags;
  readonly env: Env;
  readonly file?: LoadedFile;
  /** The policies file named by --policies or POSTBOX_POLICIES (the flag's when both are set), already read. */
  readonly policies?: { readonly data: unknown; readonly label: string };
}

export interface Resolved {
  readonly config: CliConfig;
  /** Every problem found; empty when the configuration is valid. */
  readonly problems: Problem[];
  /** Where each winning value came from, by config path ("transport.url" -> "from --rabbitmq-url"). */
  readonly labels: ReadonlyMap<string, string>;
}

export const CONFIG_SUBJECT = 'postbox configuration';

export function resolveConfig(input: ResolveInput): Resolved {
  const problems: Problem[] = [];
  const shaped = input.file === undefined ? undefined : checkFileShape(input.file, problems);
  const layers: Layer[] = [flagLayer(input.flags), envLayer(input.env)];
  if (input.file !== undefined && shaped !== undefined) layers.push(fileLayer(input.file, shaped));
  const labels = new Map<string, string>();
  const pick = (path: string, as: string = path): Setting | undefined => {
    const setting = layers.find((layer) => layer.has(path))?.get(path);
    if (setting !== undefined) labels.set(as, setting.label);
    return setting;
  };
  const add = (field: string, message: string): void => {
    const label = labels.get(field);
    problems.push({ field, message: label === undefined ? message : `${message} (${label})` });
  };

  const url = pick('database.url')?.value;
  if (url !== undefined) checkDatabaseUrl(url, add);
  const schema = pick('database.schema')?.value ?? DEFAULT_SCHEMA;
  const schemaIssue = schemaProblem(schema);
  if (schemaIssue !== undefined) add('database.schema', schemaIssue);

  const transport = resolveTransport(layers, pick, add);
  const policies = resolvePolicies(input.policies ?? pick('policies'), problems);
  const relay = resolveRelay(pick, add);

  const port = pick('metrics.port')?.value;
  if (port !== undefined && (!Number.isSafeInteger(port) || (port as number) < 0 || (port as number) > 65_535)) {
    add('metrics.port', `must be a port number from 0 to 65535 (0 picks a free one), got ${typeName(port)}`);
  }
  const host = pick('metrics.host')?.value;
  if (host !== undefined && (typeof host !== 'string' || host === '')) add('metrics.host', `must be a host name or address to listen on, e.g. "0.0.0.0", got ${typeName(host, true)}`);
  const logLevel = pick('logLevel')?.value;
  if (logLevel !== undefined && !(LOG_LEVELS as readonly unknown[]).includes(logLevel)) {
    add('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${typeName(logLevel, true)}`);
  }

  const config: CliConfig = {
    database: { url: typeof url === 'string' ? url : undefined, schema: String(schema) },
    transport,
    policies: policies as RetryPoliciesInput | undefined,
    relay,
    metrics: { port: port as number | undefined, host: host as string | undefined },
    logLevel: logLevel as LogLevel | undefined,
    file: input.file?.path,
  };
  return { config, problems, labels };
}

/** Throws one ConfigError listing every problem. */
export function assertValid(resolved: Resolved): CliConfig {
  if (resolved.problems.length > 0) throw new ConfigError(CONFIG_SUBJECT, resolved.problems);
  return resolved.config;
}

type Add = (field: string, message: string) => void;
type Pick = (path: string, as?: string) => Setting | undefined;

function checkDatabaseUrl(url: unknown, add: Add): void {
  const example = 'postgres://user:password@host:5432/database';
  if (typeof url !== 'string') return add('database.url', `must be a PostgreSQL URL such as ${example}, got ${typeName(url)}`);
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return add('database.url', `does not parse as a URL; expected ${example} (percent-encode special characters in the password)`);
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') add('database.url', `must start with postgres:// or postgresql://, got ${protocol}//...`);
}

/**
 * The transport: the type named by --transport > POSTBOX_TRANSPORT > the file; when none names
 * one, the only broker given as a flag (else as a variable) decides. Its options are the file's
 * (when the file names the same type) with the broker address from the winning source.
 */
function resolveTransport(layers: readonly Layer[], pick: Pick, add: Add): CliConfig['transport'] {
  const brokersIn = (layer: Layer | undefined): TransportType[] => TRANSPORT_TYPES.filter((type) => layer?.has(`broker.${type}`));
  const explicit = pick('transport.type');
  let type: TransportType | undefined;
  if (explicit !== undefined) {
    if (!isTransportType(explicit.value)) {
      add('transport.type', `must be one of ${TRANSPORT_TYPES.join(', ')}, got ${typeName(explicit.value, true)}`);
      return undefined;
    }
    type = explicit.value;
  } else {
    for (const [index, layer] of layers.slice(0, 2).entries()) {
      const given = brokersIn(layer);
      if (given.length === 1) type = given[0];
      if (given.length > 1) {
        const names = given.map((t) => (index === 0 ? `--${flagFor(`broker.${t}`)}` : envName(t)));
        add('transport.type', `is ambiguous: ${names.join(' and ')} are both set; choose one with --transport or POSTBOX_TRANSPORT`);
        return undefined;
      }
      if (given.length > 0) break;
    }
  }
  if (type === undefined) return undefined;
  for (const other of brokersIn(layers[0])) {
    if (other !== type) add(`--${flagFor(`broker.${other}`)}`, `applies to the ${other} transport, but the transport is ${type}${explicit ? ` (${explicit.label})` : ''}; drop it or change the transport`);
  }
  const fileLayer = layers[2];
  const fileType = fileLayer?.get('transport.type')?.value;
  const fileOptions = fileType === type ? (fileLayer?.get('transport.options')?.value as Record<string, unknown> | undefined) : undefined;
  const options: Record<string, unknown> = { ...fileOptions };
  const field = BROKER_FIELD[type];
  const broker = layers.slice(0, 2).find((layer) => layer.has(`broker.${type}`))?.get(`broker.${type}`);
  if (broker !== undefined) options[field] = broker.value;
  // Labels for the adapter's own problems (transport.url, transport.routes...), see transport.ts.
  for (const name of Object.keys(fileOptions ?? {})) pick('transport.options', `transport.${name}`);
  if (broker !== undefined) pick(`broker.${type}`, `transport.${field}`);
  return { type, options };
}

function envName(type: TransportType): string {
  return { rabbitmq: 'POSTBOX_RABBITMQ_URL', kafka: 'POSTBOX_KAFKA_BROKERS', bullmq: 'POSTBOX_REDIS_URL' }[type];
}

function resolvePolicies(setting: { data?: unknown; value?: unknown; label: string } | undefined, problems: Problem[]): unknown {
  if (setting === undefined) return undefined;
  const data = 'data' in setting ? setting.data : setting.value;
  try {
    compileRetryPolicies(data as RetryPoliciesInput);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) problems.push({ field: problem.field, message: `${problem.message} (${setting.label})` });
  }
  return data;
}

/** The relay's own validation (the same bounds as createRelay), run on stand-ins for the pool and transport. */
function resolveRelay(pick: Pick, add: Add): RelaySettings {
  const settings: Record<string, unknown> = {};
  for (const field of [...RELAY_NUMBER_FIELDS, 'listen']) {
    const value = pick(`relay.${field}`, `relay.${field}`)?.value;
    if (value !== undefined) settings[field] = value;
  }
  try {
    resolveRelayOptions({ ...settings, pool: STAND_IN_POOL, transport: STAND_IN_TRANSPORT } as RelayOptions);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) add(`relay.${problem.field}`, problem.message);
  }
  return settings as RelaySettings;
}

const STAND_IN_POOL = {
  query: async () => ({ rows: [] }),
  connect: async () => {
    throw new Error('stand-in');
  },
};
const STAND_IN_TRANSPORT = { name: 'stand-in', publish: async () => [], close: async () => undefined };
