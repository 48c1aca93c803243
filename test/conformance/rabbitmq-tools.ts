/**
 * Test tools for the RabbitMQ adapter, shared by its integration and conformance tests: unique
 * names, an admin connection that cleans up what a test declared, forced connection closes, and a
 * TCP proxy that can hold back the broker's replies or cut the connection.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import type { Channel, ChannelModel, GetMessage } from 'amqplib';
import { RABBITMQ_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

export { RABBITMQ_URL };

const run = promisify(execFile);

export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/**
 * Closes, from the broker side (320 CONNECTION_FORCED), every connection whose client-provided
 * connection_name is `name`; resolves with how many were closed.
 */
export async function forceCloseConnections(name: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0] as string);
  for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, 'test']);
  return pids.length;
}

export interface Admin {
  /** The admin channel (a new one after a broker error closed the previous one). */
  channel(): Promise<Channel>;
  /** Declares a queue (non-durable unless told) and deletes it after the test. */
  queue(name: string, options?: amqp.Options.AssertQueue): Promise<string>;
  exchange(name: string, type: 'topic' | 'direct' | 'fanout' | 'headers'): Promise<string>;
  /** Remembers names declared by code under test, to delete them in cleanup(). */
  track(kind: 'queue' | 'exchange', ...names: string[]): void;
  queueExists(name: string): Promise<boolean>;
  exchangeExists(name: string): Promise<boolean>;
  messageCount(name: string): Promise<number>;
  /** Takes (acks) up to count messages from a queue, waiting for them. */
  take(queue: string, count: number, timeoutMs?: number): Promise<GetMessage[]>;
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export async function createAdmin(): Promise<Admin> {
  const model: ChannelModel = await amqp.connect(RABBITMQ_URL);
  model.on('error', () => undefined);
  // A passive check or get on a missing queue closes the channel it ran on: reopen on demand.
  let current: Channel | undefined;
  const open = async (): Promise<Channel> => {
    if (current !== undefined) return current;
    const opened = await model.createChannel();
    opened.on('error', () => undefined);
    opened.on('close', () => {
      if (current === opened) current = undefined;
    });
    current = opened;
    return opened;
  };
  await open();
  const queues = new Set<string>();
  const exchanges = new Set<string>();

  /** Runs a passive check on a throwaway channel (a 404 closes the channel it ran on). */
  async function exists(check: (ch: Channel) => Promise<unknown>): Promise<boolean> {
    const probe = await model.createChannel();
    probe.on('error', () => undefined);
    try {
      await check(probe);
      await probe.close();
      return true;
    } catch {
      return false;
    }
  }

  return {
    channel: open,
    async queue(name, options = { durable: false }) {
      queues.add(name);
      await (await open()).assertQueue(name, options);
      return name;
    },
    async exchange(name, type) {
      exchanges.add(name);
      await (await open()).assertExchange(name, type, { durable: false });
      return name;
    },
    track(kind, ...names) {
      for (const name of names) (kind === 'queue' ? queues : exchanges).add(name);
    },
    queueExists: (name) => exists((ch) => ch.checkQueue(name)),
    exchangeExists: (name) => exists((ch) => ch.checkExchange(name)),
    async messageCount(name) {
      return (await (await open()).checkQueue(name)).messageCount;
    },
    async take(queue, count, timeoutMs = 10_000) {
      const taken: GetMessage[] = [];
      await waitFor(
        `${count} message(s) in ${queue}`,
        async () => {
          for (;;) {
            if (taken.length >= count) return true;
            const message = await (await open()).get(queue, { noAck: true });
            if (message === false) return false;
            taken.push(message);
          }
        },
        { timeoutMs },
      );
      return taken;
    },
    async cleanup() {
      for (const name of queues) await (await open()).deleteQueue(name).catch(() => undefined);
      for (const name of exchanges) await (await open()).deleteExchange(name).catch(() => undefined);
      queues.clear();
      exchanges.clear();
    },
    async close() {
      await model.close().catch(() => undefined);
    },
  };
}

export interface Proxy {
  /** amqp://guest:guest@127.0.0.1:<port>: the broker, through the proxy. */
  readonly url: string;
  /** Holds back the broker's frames (confirms stall); the client's frames still reach the broker. */
  holdReplies(): void;
  /** Passes the held frames on, and everything after them. */
  releaseReplies(): void;
  /** Destroys every proxied connection (the client sees the socket die). */
  cut(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of the real broker, for faults the broker cannot be asked to produce. */
export async function startProxy(): Promise<Proxy> {
  const target = new URL(RABBITMQ_URL);
  const pairs = new Set<{ client: net.Socket; broker: net.Socket; held: Buffer[] }>();
  let holding = false;
  const server = net.createServer((client) => {
    const broker = net.connect(Number(target.port || 5672), target.hostname);
    const pair = { client, broker, held: [] as Buffer[] };
    pairs.add(pair);
    client.pipe(broker);
    broker.on('data', (chunk: Buffer) => {
      if (holding) pair.held.push(chunk);
      else client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      broker.destroy();
    };
    client.on('error', end).on('close', end);
    broker.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `amqp://${target.username || 'guest'}:${target.password || 'guest'}@127.0.0.1:${port}`,
    holdReplies: () => {
      holding = true;
    },
    releaseReplies: () => {
      holding = false;
      for (const pair of pairs) for (const chunk of pair.held.splice(0)) pair.client.write(chunk);
    },
    cut() {
      for (const { client, broker } of pairs) {
        client.destroy();
        broker.destroy();
      }
      pairs.clear();
    },
    async close() {
      for (const { client, broker } of pairs) {
        client.destroy();
        broker.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
