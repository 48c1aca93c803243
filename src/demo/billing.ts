/**
 * The demo's consumer: billing writes one invoice per paid order, in the inbox's transaction.
 * Two failures are built in: the billing service times out once on o-1 (transient: retried), and
 * o-3's amount is written in words, which this version cannot read (poison: dead-lettered) until
 * the fix is deployed.
 */
import type { Handler } from '../consumer/types.js';
import { NonRetryableError } from '../errors.js';

export interface OrderPaid {
  readonly orderId: string;
  readonly amount: number | string;
}

export interface Billing {
  readonly handler: Handler;
  /** Deploys the version that reads amounts written in words. */
  deployFix(): void;
}

const WORDS: Readonly<Record<string, number>> = { 'forty-two': 42 };

export function createBilling(schema: string, onInvoice: (orderId: string, amount: number, attempt: number) => void): Billing {
  let fixed = false;
  let timedOut = false;
  return {
    deployFix() {
      fixed = true;
    },
    handler: async (message, { tx }) => {
      const order = message.json<OrderPaid>();
      if (order.orderId === 'o-1' && !timedOut) {
        timedOut = true;
        throw new Error('billing service timed out');
      }
      const amount = typeof order.amount === 'number' ? order.amount : fixed ? WORDS[order.amount] : undefined;
      if (amount === undefined) throw new NonRetryableError(`amount ${JSON.stringify(order.amount)} is not a number`);
      await tx!.query(`INSERT INTO "${schema}".invoices (order_id, amount) VALUES ($1, $2)`, [order.orderId, amount]);
      onInvoice(order.orderId, amount, message.attempt);
    },
  };
}
