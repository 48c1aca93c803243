import type { ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../adapters/rabbitmq/backoff.js';
import { chooseTier, historyHeader } from '../../adapters/rabbitmq/copies.js';
import { readDelivery } from '../../adapters/rabbitmq/delivery.js';
import { Header } from '../../src/message.js';

function delivery(overrides: { headers?: Record<string, unknown>; messageId?: string; routingKey?: string; content?: Buffer }): ConsumeMessage {
  return {
    content: overrides.content ?? Buffer.from('{"a":1}'),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'x', routingKey: overrides.routingKey ?? 'orders.created', consumerTag: 'c' },
    properties: {
      contentType: 'application/json',
      contentEncoding: undefined,
      headers: overrides.headers,
      deliveryMode: 2,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: overrides.messageId,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
    },
  };
}

describe('rabbitmq delivery', () => {
  it("takes the id from postbox's header, then messageId (another producer's), then a hash of routing key and body", () => {
    // A wrapped channel's caller may reuse messageId (an order id on several events): postbox's id wins.
    expect(readDelivery(delivery({ messageId: 'order-7', headers: { [Header.MessageId]: 'h-1' } })).message.id).toBe('h-1');
    expect(readDelivery(delivery({ messageId: 'm-1' })).message.id).toBe('m-1');
    const hashed = readDelivery(delivery({})).message.id;
    expect(hashed).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(readDelivery(delivery({})).message.id).toBe(hashed);
    expect(readDelivery(delivery({ routingKey: 'other' })).message.id).not.toBe(hashed);
  });

  it('reads topic, attempt and headers as strings, tolerating garbage', () => {
    const read = readDelivery(
      delivery({ headers: { [Header.Topic]: 'orders.paid', [Header.Attempt]: 'x', n: 5, b: Buffer.from('hi'), t: { '!': 'timestamp', value: 9 } } }),
    );
    expect(read.message.topic).toBe('orders.paid');
    expect(read.message.attempt).toBe(1);
    expect(read.message.headers).toMatchObject({ n: '5', b: 'hi', t: '9' });
    expect(readDelivery(delivery({ headers: { [Header.Attempt]: 4 } })).message.attempt).toBe(4);
    expect(readDelivery(delivery({})).message.topic).toBe('orders.created');
  });

  it('chooses the largest tier not above the delay, or the smallest tier', () => {
    const tiers = [1_000, 5_000, 30_000];
    expect(chooseTier(tiers, 10)).toBe(1_000);
    expect(chooseTier(tiers, 5_000)).toBe(5_000);
    expect(chooseTier(tiers, 29_999)).toBe(5_000);
    expect(chooseTier(tiers, 1e9)).toBe(30_000);
  });

  it('keeps the error history header small', () => {
    const history = Array.from({ length: 50 }, (_, i) => ({ at: new Date(0).toISOString(), attempt: i + 1, message: 'e'.repeat(2_000) }));
    const json = historyHeader(history);
    expect(json.length).toBeLessThanOrEqual(16_000);
    const kept = JSON.parse(json) as Array<{ attempt: number }>;
    expect(kept[0]!.attempt).toBe(1);
    expect(kept[kept.length - 1]!.attempt).toBe(50);
  });

  it('spreads reconnect delays with full jitter under a doubling, capped bound', () => {
    const backoff = { initialMs: 100, maxMs: 1_000 };
    expect(reconnectDelayMs(backoff, 0, () => 0.999)).toBe(99);
    expect(reconnectDelayMs(backoff, 2, () => 0.5)).toBe(200);
    expect(reconnectDelayMs(backoff, 50, () => 1)).toBe(1_000);
    expect(reconnectDelayMs(backoff, 3, () => 0)).toBe(0);
  });
});
