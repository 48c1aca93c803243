/**
 * Whether Kafka topics exist, asked before a topic's first use.
 *
 * A send to a missing topic is not a quick error in kafkajs: with auto-creation off it retries
 * UNKNOWN_TOPIC_OR_PARTITION for its whole retry budget and then leaves the topic in the
 * producer's metadata list, which fails later sends to every topic (kafkajs #1622, #1759). So
 * topics are checked with the admin's listTopics() (one metadata request that never fails for a
 * missing topic), and only existing topics are sent to. Positive answers are cached; a topic
 * found missing is asked about again on the next attempt; forget() drops a topic a send found
 * missing (deleted since).
 */
import type { KafkaAdminLike } from './client.js';

export interface TopicVerifier {
  /** The given topics that do not exist. Rejects when the brokers could not be asked. */
  missing(topics: readonly string[]): Promise<Set<string>>;
  /** A send found the topic missing: ask again next time. */
  forget(topic: string): void;
  /** True when a listing started after `since` did not include the topic (it was deleted since). */
  goneSince(topic: string, since: number): boolean;
  close(): Promise<void>;
}

export type AdminFactory =
  | { readonly kind: 'owned'; readonly create: () => Promise<KafkaAdminLike> }
  | { readonly kind: 'shared'; readonly admin: KafkaAdminLike }
  | { readonly kind: 'none' };

/** Positive answers kept at most; the cache starts over when full. */
const MAX_KNOWN = 100_000;

export function createTopicVerifier(factory: AdminFactory): TopicVerifier {
  let known = new Set<string>();
  let admin: Promise<KafkaAdminLike> | undefined;
  let listing: Promise<ReadonlySet<string>> | undefined;
  let latest: { readonly at: number; readonly names: ReadonlySet<string> } | undefined;
  let closed = false;

  function acquire(): Promise<KafkaAdminLike> {
    if (factory.kind === 'none') return Promise.reject(new Error('no admin client'));
    admin ??= (async () => {
      const created = factory.kind === 'owned' ? await factory.create() : factory.admin;
      await created.connect();
      return created;
    })();
    return admin;
  }

  /** Drops an owned admin after a failure, so the next call starts with a fresh connection. */
  function discard(failed: Promise<KafkaAdminLike>): void {
    if (admin !== failed) return;
    admin = undefined;
    if (factory.kind === 'owned') void failed.then((a) => a.disconnect()).catch(() => undefined);
  }

  function list(): Promise<ReadonlySet<string>> {
    listing ??= (async () => {
      const current = acquire();
      try {
        const startedAt = Date.now();
        const names = new Set(await (await current).listTopics());
        latest = { at: startedAt, names };
        if (known.size + names.size > MAX_KNOWN) known = new Set();
        for (const name of names) known.add(name);
        return names;
      } catch (error) {
        discard(current);
        throw error;
      }
    })().finally(() => {
      listing = undefined;
    });
    return listing;
  }

  return {
    async missing(topics) {
      if (factory.kind === 'none' || closed) return new Set();
      const unknown = topics.filter((topic) => !known.has(topic));
      if (unknown.length === 0) return new Set();
      const existing = await list();
      return new Set(unknown.filter((topic) => !existing.has(topic)));
    },
    forget(topic) {
      known.delete(topic);
    },
    goneSince(topic, since) {
      return latest !== undefined && latest.at > since && !latest.names.has(topic);
    },
    async close() {
      closed = true;
      const current = admin;
      admin = undefined;
      if (current !== undefined && factory.kind === 'owned') await current.then((a) => a.disconnect()).catch(() => undefined);
    },
  };
}
