/**
 * The exchanges, queues and bindings the connection declares on every (re)connect, and their
 * validation. Declaring is idempotent in RabbitMQ: a declaration that matches what exists is a
 * no-op; one that differs (another type, other arguments) is refused with PRECONDITION_FAILED,
 * which the connection reports naming the declaration.
 */
import {
  checkArguments,
  checkKnownFields,
  checkName,
  checkOptional,
  isBoolean,
  isRecord,
  show,
  type Problems,
} from './validation.js';

export const ExchangeType = {
  Direct: 'direct',
  Fanout: 'fanout',
  Topic: 'topic',
  Headers: 'headers',
} as const;
export type ExchangeType = (typeof ExchangeType)[keyof typeof ExchangeType];

export interface ExchangeDeclaration {
  readonly name: string;
  readonly type: ExchangeType;
  /** Survives a broker restart. Default true. */
  readonly durable?: boolean;
  /** Deleted by the broker when its last binding is removed. Default false. */
  readonly autoDelete?: boolean;
  /** x-arguments, e.g. { 'alternate-exchange': 'unrouted' }. */
  readonly arguments?: Readonly<Record<string, unknown>>;
}

export interface BindingDeclaration {
  /** The exchange the queue is bound to (declared in topology.exchanges or existing on the broker). */
  readonly exchange: string;
  /** Routing-key pattern: a topic pattern for topic exchanges, the key for direct ones. Default ''. */
  readonly pattern?: string;
  /** Binding arguments, e.g. { 'x-match': 'all', tenant: 'a' } for a headers exchange. */
  readonly arguments?: Readonly<Record<string, unknown>>;
}

export interface QueueDeclaration {
  readonly name: string;
  /** Survives a broker restart. Default true. */
  readonly durable?: boolean;
  /** x-arguments, e.g. { 'x-queue-type': 'quorum' }. */
  readonly arguments?: Readonly<Record<string, unknown>>;
  readonly bindings?: readonly BindingDeclaration[];
}

export interface TopologyInput {
  readonly exchanges?: readonly ExchangeDeclaration[];
  readonly queues?: readonly QueueDeclaration[];
}

/** A validated topology with every default filled in. Frozen. */
export interface Topology {
  readonly exchanges: ReadonlyArray<Required<ExchangeDeclaration>>;
  readonly queues: ReadonlyArray<
    Required<Omit<QueueDeclaration, 'bindings'>> & { readonly bindings: ReadonlyArray<Required<BindingDeclaration>> }
  >;
}

export const EMPTY_TOPOLOGY: Topology = Object.freeze({ exchanges: Object.freeze([]), queues: Object.freeze([]) });

const TOPOLOGY_FIELDS = ['exchanges', 'queues'] as const;
const EXCHANGE_FIELDS = ['name', 'type', 'durable', 'autoDelete', 'arguments'] as const;
const QUEUE_FIELDS = ['name', 'durable', 'arguments', 'bindings'] as const;
const BINDING_FIELDS = ['exchange', 'pattern', 'arguments'] as const;
const RESERVED_PREFIX = 'amq.';

/** Validates the topology option (pushing problems) and returns it with defaults filled in. */
export function checkTopology(input: unknown, path: string, problems: Problems): Topology {
  if (input === undefined) return EMPTY_TOPOLOGY;
  if (!isRecord(input)) {
    problems.push({ field: path, message: `must be an object { exchanges?: [...], queues?: [...] }, got ${show(input)}` });
    return EMPTY_TOPOLOGY;
  }
  checkKnownFields(input, TOPOLOGY_FIELDS, path, problems);
  const exchanges = list(input.exchanges, `${path}.exchanges`, problems).map((item, i) =>
    checkExchange(item, `${path}.exchanges[${i}]`, problems),
  );
  const queues = list(input.queues, `${path}.queues`, problems).map((item, i) =>
    checkQueue(item, `${path}.queues[${i}]`, problems),
  );
  reportDuplicates(exchanges.map((e) => e.name), `${path}.exchanges`, 'exchange', problems);
  reportDuplicates(queues.map((q) => q.name), `${path}.queues`, 'queue', problems);
  return Object.freeze({ exchanges: Object.freeze(exchanges), queues: Object.freeze(queues) });
}

function list(value: unknown, field: string, problems: Problems): unknown[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  problems.push({ field, message: `must be an array, got ${show(value)}` });
  return [];
}

function checkExchange(input: unknown, path: string, problems: Problems): Topology['exchanges'][number] {
  const fallback = { name: '', type: ExchangeType.Topic, durable: true, autoDelete: false, arguments: {} };
  if (!isRecord(input)) {
    problems.push({ field: path, message: `must be an object { name, type, durable?, autoDelete?, arguments? }, got ${show(input)}` });
    return fallback;
  }
  checkKnownFields(input, EXCHANGE_FIELDS, path, problems);
  if (checkName(input.name, 'exchange', `${path}.name`, problems)) checkNotReserved(input.name as string, `${path}.name`, problems);
  const types = Object.values(ExchangeType) as string[];
  if (typeof input.type !== 'string' || !types.includes(input.type)) {
    problems.push({ field: `${path}.type`, message: `must be one of ${types.join(', ')}, got ${show(input.type)}` });
  }
  checkOptional(input.durable, isBoolean, 'must be true or false', `${path}.durable`, problems);
  checkOptional(input.autoDelete, isBoolean, 'must be true or false', `${path}.autoDelete`, problems);
  checkArguments(input.arguments, `${path}.arguments`, problems);
  return Object.freeze({
    name: String(input.name),
    type: input.type as ExchangeType,
    durable: input.durable !== false,
    autoDelete: input.autoDelete === true,
    arguments: Object.freeze({ ...((input.arguments as Record<string, unknown> | undefined) ?? {}) }),
  });
}

function checkQueue(input: unknown, path: string, problems: Problems): Topology['queues'][number] {
  if (!isRecord(input)) {
    problems.push({ field: path, message: `must be an object { name, durable?, arguments?, bindings? }, got ${show(input)}` });
    return { name: '', durable: true, arguments: {}, bindings: [] };
  }
  checkKnownFields(input, QUEUE_FIELDS, path, problems);
  if (checkName(input.name, 'queue', `${path}.name`, problems)) checkNotReserved(input.name as string, `${path}.name`, problems);
  checkOptional(input.durable, isBoolean, 'must be true or false', `${path}.durable`, problems);
  checkArguments(input.arguments, `${path}.arguments`, problems);
  const bindings = list(input.bindings, `${path}.bindings`, problems).map((item, i) =>
    checkBinding(item, `${path}.bindings[${i}]`, problems),
  );
  return Object.freeze({
    name: String(input.name),
    durable: input.durable !== false,
    arguments: Object.freeze({ ...((input.arguments as Record<string, unknown> | undefined) ?? {}) }),
    bindings: Object.freeze(bindings),
  });
}

function checkBinding(input: unknown, path: string, problems: Problems): Required<BindingDeclaration> {
  if (!isRecord(input)) {
    problems.push({ field: path, message: `must be an object { exchange, pattern?, arguments? }, got ${show(input)}` });
    return { exchange: '', pattern: '', arguments: {} };
  }
  checkKnownFields(input, BINDING_FIELDS, path, problems);
  if (checkName(input.exchange, 'exchange', `${path}.exchange`, problems, true) && input.exchange === '') {
    problems.push({
      field: `${path}.exchange`,
      message: `must not be '' (the default exchange routes to every queue by its name and cannot be bound); name an exchange`,
    });
  }
  checkOptional(input.pattern, (v) => typeof v === 'string', 'must be a string (a routing-key pattern)', `${path}.pattern`, problems);
  checkArguments(input.arguments, `${path}.arguments`, problems);
  return Object.freeze({
    exchange: String(input.exchange),
    pattern: typeof input.pattern === 'string' ? input.pattern : '',
    arguments: Object.freeze({ ...((input.arguments as Record<string, unknown> | undefined) ?? {}) }),
  });
}

function checkNotReserved(name: string, field: string, problems: Problems): void {
  if (!name.startsWith(RESERVED_PREFIX)) return;
  problems.push({
    field,
    message:
      `${JSON.stringify(name)} uses the 'amq.' prefix that RabbitMQ reserves and refuses to declare; ` +
      `leave built-in exchanges out of topology (routes and bindings can name them) or choose another name`,
  });
}

function reportDuplicates(names: readonly string[], path: string, noun: string, problems: Problems): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (name === '') return;
    if (seen.has(name)) {
      problems.push({ field: `${path}[${i}].name`, message: `declares the ${noun} ${JSON.stringify(name)} a second time; keep one declaration` });
    }
    seen.add(name);
  });
}
