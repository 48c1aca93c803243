/**
 * The Kafka consumer: a kafkajs consumer group running the composed handler for each record, a
 * partition's records strictly one after another, committing an offset only once every record
 * below it is finished (handled, or copied to its retry or dead-letter topic with acks = all).
 *
 * It runs eachBatch with autoCommit and auto-resolve off: a record is resolved when finished, the
 * batch stops at the first record that is not (record-handler.ts), and the resolved offsets are
 * committed explicitly (at the end of each batch and every second within long ones). A handler
 * error never reaches kafkajs; only kafkajs's own errors (a rebalance seen by a heartbeat or a
 * commit) leave eachBatch, for kafkajs to handle. If kafkajs crashes without restarting itself, the
 * consumer restarts it with backoff.
 */
import { compose } from '../../src/consumer/compose.js';
import type { ConsumeContext } from '../../src/consumer/types.js';
import { ErrorCode, PostboxError, isPostboxError, toError, TransportUnavailableError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import type { EachBatchPayloadLike, KafkaClientLike, KafkaConsumerLike } from './client.js';
import { openClient } from './connection.js';
import { resolveConsumerOptions, type KafkaConsumerEvent, type KafkaConsumerOptions } from './consumer-options.js';
import { ensureTopics, planTopics } from './consumer-topics.js';
import { createPartitionGate } from './partition-gate.js';
import { createRecordWriter } from './record-writer.js';
import { handleRecord, REQUEUE_DELAY_MS, type BlockedRecord, type RecordContext } from './record-handler.js';
import { settleWithin } from './timing.js';

export interface KafkaConsumer {
  /** Checks the topics (creating missing retry and dead-letter topics), joins the group and starts consuming. */
  start(): Promise<void>;
  /** Stops fetching, waits for running handlers (at most timeoutMs, default 10 s), commits and leaves the group. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Within a long batch, commit what is finished at least this often. */
const COMMIT_INTERVAL_MS = 1_000;
const RESTART_BACKOFF = { initialMs: 1_000, maxMs: 30_000 } as const;

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export function createKafkaConsumer(options: KafkaConsumerOptions): KafkaConsumer {
  const config = resolveConsumerOptions(options);
  const plan = planTopics(config.topics, config.modes);
  const stopping = new AbortController();
  /** Aborted when stop() stops waiting for running handlers. */
  const abandon = new AbortController();
  let state: State = 'new';
  let client: Promise<KafkaClientLike> | undefined;
  let kafkaConsumer: KafkaConsumerLike | undefined;
  let starting: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarts = 0;

  const emit = (event: KafkaConsumerEvent): void => {
    try {
      config.onEvent?.(event);
    } catch {
      // observers must not break consuming
    }
  };
  const getClient = (): Promise<KafkaClientLike> =>
    (client ??= openClient(config.source, config.publishTimeoutMs).catch((error: unknown) => {
      client = undefined;
      throw error;
    }));
  let writer = createRecordWriter(getClient, config.publishTimeoutMs);
  const gate = createPartitionGate(() => kafkaConsumer, () => undefined);
  const context: ConsumeContext = Object.freeze({ consumer: config.consumer, transport: 'kafka', signal: stopping.signal });
  const records: RecordContext = {
    groupId: config.groupId,
    plan,
    policies: config.policies,
    handler: compose(...config.middleware)(config.handler),
    context,
    get writer() {
      return writer;
    },
    gate,
    blocked: new Map<string, BlockedRecord>(),
    abandon: abandon.signal,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    emit,
  };

  async function eachBatch(payload: EachBatchPayloadLike): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    let finished: string | undefined;
    let lastCommit = Date.now();
    const commit = async (): Promise<void> => {
      if (finished === undefined) return;
      const offset = (BigInt(finished) + 1n).toString();
      finished = undefined;
      lastCommit = Date.now();
      await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
    };
    try {
      for (const record of messages) {
        if (state !== 'running' || !payload.isRunning() || payload.isStale()) break;
        let step;
        try {
          step = await handleRecord(records, { topic, partition }, record, () => payload.heartbeat());
        } catch (error) {
          // A bug of ours, not of the handler (runHandler never throws): keep the record, try it again later.
          emit({ type: 'consumer:error', error: toError(error) });
          gate.holdFor(topic, partition, REQUEUE_DELAY_MS);
          break;
        }
        if (step === 'hold') break;
        payload.resolveOffset(record.offset);
        finished = record.offset;
        if (Date.now() - lastCommit >= COMMIT_INTERVAL_MS) await commit();
        await payload.heartbeat();
      }
    } finally {
      await commit();
    }
  }

  const runConfig = {
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    eachBatch,
  };

  function scheduleRestart(): void {
    if (state !== 'running' || restartTimer !== undefined || kafkaConsumer === undefined) return;
    const consumer = kafkaConsumer;
    const delay = Math.min(RESTART_BACKOFF.maxMs, RESTART_BACKOFF.initialMs * 2 ** Math.min(restarts, 10));
    restarts += 1;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (state !== 'running') return;
      void (async () => {
        await consumer.connect();
        await consumer.run(runConfig);
        restarts = 0;
      })().catch((error: unknown) => {
        emit({ type: 'consumer:crashed', error: toError(error), restart: false });
        scheduleRestart();
      });
    }, delay);
  }

  async function open(): Promise<void> {
    const kafka = await getClient();
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, config.topics, plan, config.createTopics);
    } finally {
      await settleWithin(admin.disconnect(), 5_000);
    }
    await writer.connect();
    const consumer = kafka.consumer({
      groupId: config.groupId,
      sessionTimeout: config.sessionTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      maxWaitTimeInMs: config.maxWaitTimeMs,
      allowAutoTopicCreation: false,
      retry: { restartOnFailure: () => Promise.resolve(state === 'running' || state === 'starting') },
    });
    kafkaConsumer = consumer;
    consumer.on('consumer.crash', (event) => {
      const { error, restart } = event.payload;
      emit({ type: 'consumer:crashed', error, restart });
      if (!restart) scheduleRestart();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...plan.subscriptions], fromBeginning: config.fromBeginning });
    state = 'running';
    await consumer.run(runConfig);
  }

  async function shutDown(timeoutMs: number): Promise<void> {
    if (restartTimer !== undefined) clearTimeout(restartTimer);
    restartTimer = undefined;
    stopping.abort();
    const timer = setTimeout(() => abandon.abort(), timeoutMs);
    try {
      // kafkajs waits for eachBatch to return (the running handler, or the timeout), then leaves the group.
      if (kafkaConsumer !== undefined) await settleWithin(kafkaConsumer.disconnect(), timeoutMs + 10_000);
    } finally {
      clearTimeout(timer);
      abandon.abort();
      gate.clear();
      await writer.close();
    }
  }

  return {
    start() {
      if (state === 'stopping' || state === 'stopped') {
        return Promise.reject(new PostboxError(ErrorCode.Stopped, 'the consumer was stopped; create a new one to consume again'));
      }
      starting ??= (async () => {
        state = 'starting';
        try {
          await open();
        } catch (error) {
          state = 'new';
          starting = undefined;
          await shutDownAfterFailedStart();
          if (isPostboxError(error)) throw error;
          throw new TransportUnavailableError(`the kafka consumer ${JSON.stringify(config.groupId)} could not start: ${redactText(toError(error).message)}`, { cause: error });
        }
      })();
      return starting;
    },
    stop({ timeoutMs = DEFAULT_STOP_TIMEOUT_MS } = {}) {
      stopped ??= (async () => {
        await starting?.catch(() => undefined);
        state = 'stopping';
        await shutDown(timeoutMs);
        state = 'stopped';
      })();
      return stopped;
    },
  };

  async function shutDownAfterFailedStart(): Promise<void> {
    const consumer = kafkaConsumer;
    kafkaConsumer = undefined;
    if (consumer !== undefined) await settleWithin(consumer.disconnect(), 5_000);
    await writer.close();
    writer = createRecordWriter(getClient, config.publishTimeoutMs); // for the next start()
  }
}
