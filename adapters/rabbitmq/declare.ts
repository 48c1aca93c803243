/**
 * Declares the configured topology on a fresh channel. A declaration the broker refuses (e.g.
 * PRECONDITION_FAILED: an exchange of that name exists with another type) fails with an error
 * naming the declaration, so the operator knows which line of config to fix.
 */
import type { Channel, ChannelModel } from 'amqplib';
import { redactText } from '../../src/redact.js';
import { CHANNEL_CLOSE_TIMEOUT_MS, settleWithin } from './timing.js';
import type { Topology } from './topology.js';

type ExchangeSpec = Topology['exchanges'][number];

export async function declareTopology(model: ChannelModel, topology: Topology): Promise<void> {
  if (topology.exchanges.length === 0 && topology.queues.length === 0) return;
  const channel = await model.createChannel();
  channel.on('error', ignore); // a refused declaration also closes the channel; the rpc rejects with the reason
  try {
    for (const [i, exchange] of topology.exchanges.entries()) {
      await declareStep(`topology.exchanges[${i}] (exchange ${JSON.stringify(exchange.name)})`, () => declareExchange(channel, exchange));
    }
    for (const [i, queue] of topology.queues.entries()) {
      const what = `topology.queues[${i}] (queue ${JSON.stringify(queue.name)})`;
      await declareStep(what, () => channel.assertQueue(queue.name, { durable: queue.durable, arguments: { ...queue.arguments } }));
      for (const [j, binding] of queue.bindings.entries()) {
        await declareStep(`${what}.bindings[${j}] (to exchange ${JSON.stringify(binding.exchange)})`, () =>
          channel.bindQueue(queue.name, binding.exchange, binding.pattern, { ...binding.arguments }),
        );
      }
    }
  } finally {
    await settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS); // already closed when the broker refused a declaration
  }
}

export async function declareExchange(channel: Channel, exchange: ExchangeSpec): Promise<void> {
  await channel.assertExchange(exchange.name, exchange.type, {
    durable: exchange.durable,
    autoDelete: exchange.autoDelete,
    arguments: { ...exchange.arguments },
  });
}

/** Runs one declaration; a refusal becomes an error naming it (`what`) and saying what to do. */
export async function declareStep(what: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (error) {
    const reason = redactText(error instanceof Error ? error.message : String(error));
    throw new Error(
      `declaring ${what} failed: ${reason}. Fix the declaration, or change or delete what exists on the broker`,
      { cause: error },
    );
  }
}

function ignore(): void {}
