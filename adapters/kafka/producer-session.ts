/**
 * The producer a transport (or a consumer's retry copies) sends with: one send at a time per
 * producer, and a replacement after any failure.
 *
 * An idempotent producer numbers its records per partition. When a request fails, kafkajs rolls
 * the numbers of every partition of the request back, although the broker may have written some
 * of them, and retries. Another send on the same producer in between would reuse those numbers:
 * the broker then rejects it (OUT_OF_ORDER_SEQUENCE_NUMBER) or, worse, takes it for a duplicate
 * and drops it. So sends take turns (turn()): a send never overlaps kafkajs's retries of another.
 * (kafkajs already serialises produce requests per broker, so this costs little.)
 *
 * After a send failed or was abandoned, the producer's numbers may be out of step with the
 * broker, and kafkajs keeps topics it once sent to in the producer's metadata list, failing every
 * send once one of them is deleted (kafkajs #1622, #1759). So a producer this session made is
 * retired after any failed send: later turns get a fresh producer (a new producer id), and the old
 * one is disconnected once its turns are over. A producer the user passed in cannot be replaced:
 * it is used as it is and never disconnected.
 */
import type { KafkaProducerLike } from './client.js';

export interface Turn {
  readonly producer: KafkaProducerLike;
  /** Lets the next send use the producer. Call once the send settled (or the producer was retired). */
  release(): void;
}

export interface ProducerSession {
  /** A connected producer (connecting one if needed; concurrent callers share the attempt). */
  acquire(): Promise<KafkaProducerLike>;
  /** Waits until no other send runs on the current producer; a producer retired meanwhile is skipped. */
  turn(): Promise<Turn>;
  /** Remembers that `producer` sent to `topic` (kafkajs keeps every such topic in the producer's metadata). */
  markUsed(producer: KafkaProducerLike, topic: string): void;
  /** The topics `producer` sent to, with the time of the last send. */
  usedTopics(producer: KafkaProducerLike): ReadonlyMap<string, number>;
  /** Stops giving out `producer` (when the session made it) and disconnects it once its turns are over. */
  retire(producer: KafkaProducerLike): void;
  /** True when producers are made by the session (and so can be replaced). */
  readonly replaceable: boolean;
  /** Disconnects every producer the session made; waits at most graceMs for sends in flight. */
  close(graceMs: number): Promise<void>;
}

export type ProducerFactory =
  | { readonly kind: 'owned'; readonly create: () => Promise<KafkaProducerLike> }
  | { readonly kind: 'shared'; readonly producer: KafkaProducerLike };

export function createProducerSession(factory: ProducerFactory): ProducerSession {
  let current: KafkaProducerLike | undefined;
  let connecting: Promise<KafkaProducerLike> | undefined;
  let closed = false;
  /** Per producer: settles when every turn taken so far is released. */
  const tails = new Map<KafkaProducerLike, Promise<void>>();
  /** Producers the session made and has not disconnected yet (current and retired). */
  const made = new Set<KafkaProducerLike>();
  const retired = new Set<KafkaProducerLike>();
  const used = new WeakMap<KafkaProducerLike, Map<string, number>>();

  async function open(): Promise<KafkaProducerLike> {
    const producer = factory.kind === 'owned' ? await factory.create() : factory.producer;
    if (factory.kind === 'owned') made.add(producer);
    try {
      await producer.connect();
    } catch (error) {
      retire(producer);
      throw error;
    }
    if (closed) {
      retire(producer);
      throw new Error('the producer session was closed while connecting');
    }
    current = producer;
    return producer;
  }

  function acquire(): Promise<KafkaProducerLike> {
    if (closed) return Promise.reject(new Error('the producer session is closed'));
    if (current !== undefined) return Promise.resolve(current);
    connecting ??= open().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  function retire(producer: KafkaProducerLike): void {
    if (factory.kind === 'shared' || !made.has(producer) || retired.has(producer)) return;
    retired.add(producer);
    if (current === producer) current = undefined;
    void (tails.get(producer) ?? Promise.resolve())
      .then(async () => {
        if (!made.delete(producer)) return; // close() got to it first
        await producer.disconnect();
      })
      .catch(() => undefined)
      .finally(() => {
        retired.delete(producer);
        tails.delete(producer);
      });
  }

  async function turn(): Promise<Turn> {
    for (;;) {
      const producer = await acquire();
      const previous = tails.get(producer) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      tails.set(producer, previous.then(() => mine));
      await previous;
      const usable = factory.kind === 'shared' || (made.has(producer) && !retired.has(producer));
      if (usable) return { producer, release };
      release(); // replaced while waiting: take a turn on the new one
    }
  }

  return {
    replaceable: factory.kind === 'owned',
    acquire,
    turn,
    markUsed(producer, topic) {
      let topics = used.get(producer);
      if (topics === undefined) used.set(producer, (topics = new Map()));
      topics.set(topic, Date.now());
    },
    usedTopics: (producer) => used.get(producer) ?? new Map(),
    retire,
    async close(graceMs) {
      closed = true;
      await connecting?.catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...tails.values()]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      current = undefined;
      const owned = [...made];
      made.clear();
      await Promise.allSettled(owned.map((p) => p.disconnect()));
    },
  };
}
