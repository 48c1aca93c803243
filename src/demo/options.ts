/** What the demo runs against, from options or from the environment. */

export type DemoBrokerOptions =
  | { readonly type: 'rabbitmq'; readonly url: string }
  | { readonly type: 'kafka'; readonly brokers: readonly string[] }
  | { readonly type: 'bullmq'; readonly url: string };

export interface DemoOptions {
  /** A PostgreSQL URL; absent: PGlite, an embedded PostgreSQL in memory. */
  readonly databaseUrl?: string;
  /** Absent: the in-process broker of postbox/testing. */
  readonly broker?: DemoBrokerOptions;
  /** Where timeline lines go (without a newline). Default: process.stdout. */
  readonly write?: (line: string) => void;
  /**
   * Ends the story early (wire it to Ctrl+C): runDemo stops at the next step, still removes what
   * it created on the services, and rejects with a DemoError.
   */
  readonly signal?: AbortSignal;
}

export interface DemoResult {
  readonly database: 'pglite' | 'postgres';
  readonly broker: 'in-process' | DemoBrokerOptions['type'];
  /** The timeline as printed. */
  readonly lines: readonly string[];
  readonly durationMs: number;
  /** What the story ended with: one invoice per committed order, nothing pending, no dead letter. */
  readonly outcome: {
    readonly orders: number;
    readonly invoices: number;
    readonly outboxPending: number;
    readonly deadLetters: number;
    readonly duplicatesSkipped: number;
  };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * DATABASE_URL; the broker from the first of POSTBOX_RABBITMQ_URL (or RABBITMQ_URL),
 * POSTBOX_KAFKA_BROKERS (or KAFKA_BROKERS, a comma list), POSTBOX_REDIS_URL (or REDIS_URL) that is
 * set. Empty values count as unset.
 */
export function demoOptionsFromEnv(env: Env): DemoOptions {
  const read = (...names: string[]): string | undefined =>
    names.map((name) => env[name]?.trim()).find((value): value is string => value !== undefined && value !== '');
  const databaseUrl = read('DATABASE_URL');
  const rabbitmq = read('POSTBOX_RABBITMQ_URL', 'RABBITMQ_URL');
  const kafka = read('POSTBOX_KAFKA_BROKERS', 'KAFKA_BROKERS');
  const redis = read('POSTBOX_REDIS_URL', 'REDIS_URL');
  const broker: DemoBrokerOptions | undefined =
    rabbitmq !== undefined
      ? { type: 'rabbitmq', url: rabbitmq }
      : kafka !== undefined
        ? { type: 'kafka', brokers: kafka.split(',').map((b) => b.trim()).filter((b) => b !== '') }
        : redis !== undefined
          ? { type: 'bullmq', url: redis }
          : undefined;
  return { ...(databaseUrl === undefined ? {} : { databaseUrl }), ...(broker === undefined ? {} : { broker }) };
}
