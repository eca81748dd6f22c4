import { EmbeddedTransport, ReliablePublisher } from '@reliable-mq/nestjs';
import { temporaryEmbeddedTransport } from '@reliable-mq/nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPaymentDatabase } from '../database/payment-database';
import { TransactionEndWatcher } from '../database/transaction-end-watcher';
import { PaymentConfirmations } from './payment-confirmations.service';
import { PaymentEntity } from './payment.entity';

let dir: string;
let dataSource: DataSource;
let transport: EmbeddedTransport;
let cleanupTransport: () => void;
let confirmations: PaymentConfirmations;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rmq-confirm-'));
  dataSource = await openPaymentDatabase(join(dir, 'payments.sqlite'));
  const temp = temporaryEmbeddedTransport({ topics: ['payment.succeeded'] });
  cleanupTransport = temp.cleanup;
  transport = new EmbeddedTransport(temp.transport);
  await transport.connect();
  const publisher = new ReliablePublisher({ transport, producerGroup: 'payment-service', dataSource });
  confirmations = new PaymentConfirmations(publisher, new TransactionEndWatcher(dataSource));
});

afterEach(async () => {
  await transport.close();
  cleanupTransport();
  await dataSource.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function payment(orderId: string): Omit<PaymentEntity, 'messageId'> {
  return {
    id: `p-${orderId}`,
    orderId,
    status: 'SUCCEEDED',
    amountCents: 1250,
    cardLast4: '4242',
    gatewayChargeId: 'ch_1',
    attempts: 1,
    reason: null,
    createdAt: Date.now(),
  };
}

function halves() {
  return transport.engine.listHalfMessages({ state: 'any' }).items;
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out; half messages: ${JSON.stringify(halves().map((half) => half.state))}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PaymentConfirmations', () => {
  it('commits payment.succeeded only after the transaction holding the payment row has committed', async () => {
    let pendingInside = false;
    await dataSource.transaction(async (manager) => {
      await confirmations.record(manager, payment('o-1'));
      const [half] = halves();
      // The row is written, the transaction still open: the message is held back and the checker would wait.
      expect(half).toMatchObject({ state: 'unresolved', topic: 'payment.succeeded', key: 'o-1' });
      pendingInside = confirmations.isPending(half!.messageId);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(halves()[0]!.state).toBe('unresolved');
    });
    expect(pendingInside).toBe(true);
    await until(() => halves()[0]?.state === 'committed');
    const [half] = halves();
    expect(half).toMatchObject({ resolvedBy: 'producer' });
    expect(JSON.parse(half!.body.toString())).toEqual({ orderId: 'o-1', paymentId: 'p-o-1', amount: 12.5 });
    expect(await dataSource.manager.findOneBy(PaymentEntity, { orderId: 'o-1' })).toMatchObject({
      messageId: half!.messageId,
    });
    expect(confirmations.isPending(half!.messageId)).toBe(false);
  });

  it('rolls the message back when that transaction rolls back, so no payment.succeeded exists without its row', async () => {
    await expect(
      dataSource.transaction(async (manager) => {
        await confirmations.record(manager, payment('o-2'));
        throw new Error('the inbox commit failed');
      }),
    ).rejects.toThrow('the inbox commit failed');
    await until(() => halves()[0]?.state === 'rolled_back');
    expect(await dataSource.manager.countBy(PaymentEntity, { orderId: 'o-2' })).toBe(0);
  });

  it('rejects, and rolls the message back, when the payment row cannot be written', async () => {
    await dataSource.transaction((manager) => confirmations.record(manager, payment('o-3')));
    await until(() => halves()[0]?.state === 'committed');
    const again = { ...payment('o-3'), id: 'p-other' };
    await expect(dataSource.transaction((manager) => confirmations.record(manager, again))).rejects.toThrow(
      /UNIQUE constraint failed: payments.order_id/,
    );
    await until(() => halves().some((half) => half.state === 'rolled_back'));
    expect(await dataSource.manager.countBy(PaymentEntity, { orderId: 'o-3' })).toBe(1);
  });

  it('rejects without writing anything when the broker cannot take the half message', async () => {
    await transport.close();
    await expect(dataSource.transaction((manager) => confirmations.record(manager, payment('o-4')))).rejects.toThrow();
    expect(await dataSource.manager.countBy(PaymentEntity, { orderId: 'o-4' })).toBe(0);
  });

  it('needs the handler transaction', async () => {
    await expect(confirmations.record(dataSource.manager, payment('o-5'))).rejects.toThrow(
      /needs the handler transaction/,
    );
  });
});
