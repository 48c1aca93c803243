/**
 * A RabbitMQ connection manager: connects lazily, declares the topology on every (re)connect,
 * hands out channels, reconnects in the background with exponential backoff and full jitter, and
 * reports what happens as events. Operations that need a connection wait for at most one
 * connection attempt: while the broker is unreachable they fail fast with
 * TransportUnavailableError and reconnection continues in the background. Credentials never
 * appear in errors or events.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { TransportUnavailableError, toError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import { reconnectDelayMs } from './backoff.js';
import { declareTopology } from './declare.js';
import { race } from './timing.js';
import { createEmitter } from './emitter.js';
import { resolveConnectionOptions, type RabbitMQConnectionOptions, type ResolvedConnectionOptions } from './options.js';
import type { Topology } from './topology.js';
import { loginUser, withHeartbeat } from './url.js';

export type ConnectionEvents = {
  /** Connected and the topology is declared. */
  connected: [info: { readonly target: string }];
  /** The connection was lost (error set) or closed by close() (error undefined). */
  disconnected: [info: { readonly target: string; readonly error: Error | undefined }];
  /** The broker stopped reading from this connection (memory or disk alarm): publishes stall. */
  blocked: [info: { readonly target: string; readonly reason: string }];
  unblocked: [info: { readonly target: string }];
};

export interface RabbitMQConnection {
  /** The broker URL with its secrets redacted. */
  readonly target: string;
  /** The user this connection logs in as (amqplib's default is guest). */
  readonly user: string;
  readonly topology: Topology;
  readonly isConnected: boolean;
  /** Connects (when not connected) and declares the topology. Rejects with TransportUnavailableError. */
  connect(): Promise<void>;
  /** A new channel owned by the caller. Rejects with TransportUnavailableError. */
  createChannel(): Promise<Channel>;
  /** A new confirm channel owned by the caller. Rejects with TransportUnavailableError. */
  createConfirmChannel(): Promise<ConfirmChannel>;
  /** Subscribes to an event; returns a function that unsubscribes. Listener errors are ignored. */
  on<K extends keyof ConnectionEvents>(event: K, listener: (...args: ConnectionEvents[K]) => void): () => void;
  /** Stops reconnecting and closes the connection (and with it every channel). Idempotent. */
  close(): Promise<void>;
}

/** How long close() waits for the broker's close-ok before giving up on a polite close. */
const CLOSE_TIMEOUT_MS = 2_000;

/** Validates the options (every problem at once, in one ConfigError) and returns an unconnected manager. */
export function createRabbitMQConnection(input: RabbitMQConnectionOptions): RabbitMQConnection {
  return connectionFromResolved(resolveConnectionOptions(input));
}

/** For components that validated connection options as part of their own. */
export function connectionFromResolved(options: ResolvedConnectionOptions): RabbitMQConnection {
  const { target } = options;
  const events = createEmitter<ConnectionEvents>();
  let model: ChannelModel | undefined;
  let attempt: Promise<ChannelModel> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let lastError: Error | undefined;
  /** Reconnect in the background only once someone has asked for a connection (lazy). */
  let wanted = false;
  let closing: Promise<void> | undefined;

  function unavailable(reason: string, cause?: unknown): TransportUnavailableError {
    const detail = cause === undefined ? '' : `: ${redactText(toError(cause).message)}`;
    return new TransportUnavailableError(
      `RabbitMQ at ${target} is unavailable (${reason}${detail}); check that the broker is running and reachable, ` +
        `postbox keeps reconnecting in the background`,
      { cause },
    );
  }

  function closedError(): TransportUnavailableError {
    return new TransportUnavailableError(`the RabbitMQ connection to ${target} was closed by close(); create a new one`);
  }

  async function ensureModel(): Promise<ChannelModel> {
    if (closing !== undefined) throw closedError();
    wanted = true;
    if (model !== undefined) return model;
    if (attempt !== undefined) return attempt;
    if (timer !== undefined && failures > 0) {
      throw unavailable(`${failures} connection attempt(s) failed, the last one`, lastError);
    }
    return startAttempt();
  }

  function startAttempt(): Promise<ChannelModel> {
    clearTimer();
    const current = open().then(
      (opened) => {
        attempt = undefined;
        if (closing !== undefined) {
          void closeQuietly(opened);
          throw closedError();
        }
        failures = 0;
        lastError = undefined;
        model = opened;
        events.emit('connected', { target });
        return opened;
      },
      (error: unknown) => {
        attempt = undefined;
        failures += 1;
        lastError = toError(error);
        scheduleReconnect();
        throw unavailable('could not connect', error);
      },
    );
    current.catch(ignore); // a background attempt has no caller; its failure is kept in lastError
    attempt = current;
    return current;
  }

  async function open(): Promise<ChannelModel> {
    const url = withHeartbeat(options.url, options.heartbeatSeconds);
    const opened = await amqp.connect(url, {
      timeout: options.connectTimeoutMs,
      clientProperties: { connection_name: options.connectionName },
    });
    watch(opened);
    let declared;
    try {
      declared = await race(declareTopology(opened, options.topology), options.connectTimeoutMs);
    } catch (error) {
      await closeQuietly(opened);
      throw error;
    }
    if (declared.kind !== 'value') {
      await closeQuietly(opened);
      throw new Error(`declaring the topology took longer than ${options.connectTimeoutMs} ms (connectTimeoutMs)`);
    }
    return opened;
  }

  function watch(opened: ChannelModel): void {
    let lostWith: Error | undefined;
    // amqplib emits 'error' before 'close' on a failure; without a listener it would crash the process.
    opened.on('error', (error: Error) => {
      lostWith = error;
    });
    opened.on('close', (error?: Error) => {
      if (model !== opened) return;
      model = undefined;
      const cause = error ?? lostWith;
      const reported = cause === undefined ? new Error('connection closed') : sanitize(cause);
      events.emit('disconnected', { target, error: reported });
      scheduleReconnect();
    });
    opened.on('blocked', (reason: string) => events.emit('blocked', { target, reason: String(reason) }));
    opened.on('unblocked', () => events.emit('unblocked', { target }));
  }

  function scheduleReconnect(): void {
    if (!wanted || closing !== undefined || timer !== undefined || attempt !== undefined || model !== undefined) return;
    const delay = reconnectDelayMs(options.reconnect, failures);
    timer = setTimeout(() => {
      timer = undefined;
      startAttempt().catch(ignore);
    }, delay);
  }

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  async function openChannel<C extends Channel>(kind: string, create: (m: ChannelModel) => Promise<C>): Promise<C> {
    const current = await ensureModel();
    let channel: C;
    try {
      channel = await create(current);
    } catch (error) {
      throw unavailable(`could not open a ${kind}`, error);
    }
    // A channel error is followed by 'close', which owners watch; never let 'error' go unhandled.
    channel.on('error', ignore);
    return channel;
  }

  return {
    target,
    user: loginUser(options.url),
    topology: options.topology,
    get isConnected() {
      return model !== undefined;
    },
    async connect() {
      await ensureModel();
    },
    createChannel: () => openChannel('channel', (m) => m.createChannel()),
    createConfirmChannel: () => openChannel('confirm channel', (m) => m.createConfirmChannel()),
    on: (event, listener) => events.on(event, listener),
    close() {
      closing ??= (async () => {
        clearTimer();
        if (attempt !== undefined) await attempt.catch(ignore); // closes what it opened: closing is set
        const current = model;
        model = undefined;
        if (current !== undefined) {
          await closeQuietly(current);
          events.emit('disconnected', { target, error: undefined });
        }
      })();
      return closing;
    },
  };
}

/**
 * Closes politely (close, close-ok); when the broker does not answer in time (a dead socket, a
 * blocked connection), destroys the socket so the process is not kept alive by it.
 */
async function closeQuietly(opened: ChannelModel): Promise<void> {
  let timeout: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    opened.close().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timeout = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timeout);
  if (!closed) (opened.connection as { stream?: { destroy?: () => void } }).stream?.destroy?.();
}

function sanitize(error: Error): Error {
  const clean = new Error(redactText(error.message), { cause: error });
  clean.name = error.name;
  return clean;
}

function ignore(): void {}
