/**
 * The broker address: validation of a URL string or an amqplib connect object, and a description
 * of it that is safe to log (never the password).
 */
import type { Options } from 'amqplib';
import { redactUrl } from '../../src/redact.js';
import { checkKnownFields, checkOptional, isNonEmptyString, isRecord, show, type Problems } from './validation.js';

export type RabbitMQUrl = string | Options.Connect;

const URL_EXAMPLE = 'amqp://user:password@host:5672/vhost (or amqps:// for TLS)';

const CONNECT_FIELDS = [
  'protocol',
  'hostname',
  'port',
  'username',
  'password',
  'locale',
  'frameMax',
  'maxFrameSize',
  'heartbeat',
  'vhost',
  'channelMax',
  'credentials',
] as const;

/** Checks the url option; pushes problems that never contain the password. */
export function checkUrl(url: unknown, field: string, problems: Problems): void {
  if (typeof url === 'string') {
    checkUrlString(url, field, problems);
  } else if (isRecord(url)) {
    checkConnectObject(url, field, problems);
  } else {
    problems.push({
      field,
      message: `must be a broker URL such as ${URL_EXAMPLE}, or an amqplib connect object, got ${show(url)}`,
    });
  }
}

function checkUrlString(url: string, field: string, problems: Problems): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push({ field, message: `does not parse as a URL (${redactUrl(url)}); use the form ${URL_EXAMPLE}` });
    return;
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    problems.push({
      field,
      message: `must use the amqp:// or amqps:// scheme, got ${JSON.stringify(parsed.protocol)} in ${redactUrl(url)}`,
    });
  }
  if (parsed.hostname === '') {
    problems.push({ field, message: `has no host name (${redactUrl(url)}); use the form ${URL_EXAMPLE}` });
  }
}

function checkConnectObject(url: Record<string, unknown>, field: string, problems: Problems): void {
  checkKnownFields(url, CONNECT_FIELDS, field, problems);
  const isProtocol = (v: unknown): boolean => v === 'amqp' || v === 'amqps';
  checkOptional(url.protocol, isProtocol, `must be 'amqp' or 'amqps' (without a colon)`, `${field}.protocol`, problems);
  if (!isNonEmptyString(url.hostname)) {
    problems.push({ field: `${field}.hostname`, message: `must be the broker's host name, got ${show(url.hostname)}` });
  }
  const isPort = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536;
  checkOptional(url.port, isPort, 'must be a TCP port (an integer from 1 to 65535)', `${field}.port`, problems);
  for (const name of ['username', 'locale', 'vhost'] as const) {
    checkOptional(url[name], (v) => typeof v === 'string', 'must be a string', `${field}.${name}`, problems);
  }
  if (url.password !== undefined && typeof url.password !== 'string') {
    // Never show the value: it is a secret even when mistyped.
    problems.push({ field: `${field}.password`, message: 'must be a string' });
  }
  for (const name of ['frameMax', 'maxFrameSize', 'heartbeat', 'channelMax'] as const) {
    const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    checkOptional(url[name], isCount, 'must be an integer >= 0', `${field}.${name}`, problems);
  }
  const isCredentials = (v: unknown): boolean =>
    isRecord(v) && typeof v.mechanism === 'string' && typeof v.response === 'function';
  checkOptional(
    url.credentials,
    isCredentials,
    'must be an amqplib credentials object (e.g. amqplib.credentials.external())',
    `${field}.credentials`,
    problems,
  );
}

/** Where the broker is, for messages and events: the URL with its secrets replaced by ***. */
export function describeUrl(url: RabbitMQUrl): string {
  if (typeof url === 'string') return redactUrl(url);
  const protocol = url.protocol ?? 'amqp';
  const port = url.port ?? (protocol === 'amqps' ? 5671 : 5672);
  const user = url.username !== undefined ? `${encodeURIComponent(url.username)}:***@` : '';
  const vhost = url.vhost !== undefined ? `/${encodeURIComponent(url.vhost)}` : '';
  return `${protocol}://${user}${url.hostname ?? 'localhost'}:${port}${vhost}`;
}

/** True when a URL string carries its own heartbeat query parameter. */
export function urlHasHeartbeat(url: RabbitMQUrl): boolean {
  if (typeof url !== 'string') return url.heartbeat !== undefined;
  try {
    return new URL(url).searchParams.has('heartbeat');
  } catch {
    return false;
  }
}

/** The url with the heartbeat applied (amqplib reads it from the query string or the object). */
export function withHeartbeat(url: RabbitMQUrl, heartbeatSeconds: number | undefined): RabbitMQUrl {
  if (heartbeatSeconds === undefined) return url;
  if (typeof url !== 'string') return { ...url, heartbeat: heartbeatSeconds };
  const parsed = new URL(url);
  parsed.searchParams.set('heartbeat', String(heartbeatSeconds));
  return parsed.toString();
}

/**
 * The user amqplib logs in as with this url: its user name (percent-decoded), or guest when the
 * url gives neither a user nor a password (amqplib's default).
 */
export function loginUser(url: RabbitMQUrl): string {
  if (typeof url !== 'string') {
    return url.username === undefined && url.password === undefined ? 'guest' : (url.username ?? '');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'guest';
  }
  if (parsed.username === '' && parsed.password === '') return 'guest';
  try {
    return decodeURIComponent(parsed.username);
  } catch {
    return parsed.username;
  }
}
