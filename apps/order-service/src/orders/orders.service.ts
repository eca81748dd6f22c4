import { ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { NonRetryableError, ReliablePublisher } from '@reliable-mq/nestjs';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { SqliteWriteLock } from '../database/sqlite-write-lock';
import { ORDER_CREATED, type OrderCreatedPayload } from '../messages';
import type { CreateOrderDto } from './create-order.dto';
import { OrderHistoryEntity } from './order-history.entity';
import type { OrderStatus } from './order-status';
import { OrderEntity } from './order.entity';
import { fromCents, toCents, toOrderView, type OrderView } from './order.view';

/** How many history lines `GET /orders/:id` shows. */
const HISTORY_LINES = 10;

@Injectable()
export class OrdersService {
  private readonly logger = new Logger(OrdersService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly publisher: ReliablePublisher,
    private readonly lock: SqliteWriteLock,
  ) {}

  /**
   * Writes the order and `order.created` in one transaction: the message exists exactly when the order does, and
   * the relay sends it once the transaction has committed.
   */
  async place(input: CreateOrderDto): Promise<{ id: string; status: OrderStatus }> {
    const now = Date.now();
    const order: OrderEntity = {
      id: randomUUID(),
      customerId: input.customerId,
      amountCents: toCents(input.amount),
      card: input.card,
      status: 'PENDING',
      createdAt: now,
      updatedAt: now,
    };
    await this.lock.run(() =>
      this.publisher.transaction(async (manager) => {
        await manager.insert(OrderEntity, order);
        await this.addHistory(manager, order.id, 'PENDING', 'order placed; order.created written to the outbox', now);
        await this.publisher.publish({ topic: ORDER_CREATED, key: order.id, payload: toPayload(order) }, { manager });
      }),
    );
    this.logger.log(`Order ${order.id} placed: ${input.amount} for customer ${input.customerId}`);
    return { id: order.id, status: order.status };
  }

  async find(id: string): Promise<OrderView | null> {
    const order = await this.dataSource.manager.findOneBy(OrderEntity, { id });
    if (!order) return null;
    const history = await this.dataSource.manager.find(OrderHistoryEntity, {
      where: { orderId: id },
      order: { id: 'DESC' },
      take: HISTORY_LINES,
    });
    return toOrderView(order, history.reverse());
  }

  async list(customerId: string | undefined, limit: number): Promise<OrderView[]> {
    const orders = await this.dataSource.manager.find(OrderEntity, {
      where: customerId === undefined ? {} : { customerId },
      order: { createdAt: 'DESC', id: 'DESC' },
      take: limit,
    });
    return orders.map((order) => toOrderView(order));
  }

  /**
   * Moves a PENDING order to its final status. Applying a result twice changes nothing: a final status is never
   * left, so a result redelivered after a restart (when the in-memory dedup has forgotten it) is harmless.
   */
  async settle(orderId: string, status: 'PAID' | 'FAILED', note: string): Promise<'settled' | 'unchanged'> {
    const outcome = await this.lock.run(() =>
      this.dataSource.transaction(async (manager) => {
        const order = await manager.findOneBy(OrderEntity, { id: orderId });
        // Retrying cannot make an unknown order appear: straight to the DLQ, where an operator can look.
        if (!order) throw new NonRetryableError(`There is no order ${orderId}; its payment result cannot be applied.`);
        if (order.status !== 'PENDING') return { from: order.status, changed: false };
        const now = Date.now();
        await manager.update(OrderEntity, { id: orderId, status: 'PENDING' }, { status, updatedAt: now });
        await this.addHistory(manager, orderId, status, note, now);
        return { from: order.status, changed: true };
      }),
    );
    if (!outcome.changed) {
      this.logger.log(`Order ${orderId} is already ${outcome.from}; ${status} result ignored`);
      return 'unchanged';
    }
    this.logger.log(`Order ${orderId} is ${status}: ${note}`);
    return 'settled';
  }

  /**
   * Publishes `order.created` again, with a new message id, for an order that is already PAID or FAILED: a
   * duplicate on purpose, as a producer retry or an operator replay would make one. The payment service's dedup on
   * the order id must suppress it. Refused for PENDING orders, whose first message may still be on its way.
   */
  async republish(orderId: string): Promise<{ orderId: string; messageId: string }> {
    const messageId = await this.lock.run(() =>
      this.publisher.transaction(async (manager) => {
        const order = await manager.findOneBy(OrderEntity, { id: orderId });
        if (!order) throw new NotFoundException(`There is no order ${orderId}.`);
        if (order.status === 'PENDING') {
          throw new ConflictException(
            `Order ${orderId} is still PENDING; only PAID or FAILED orders can have order.created published again.`,
          );
        }
        await this.addHistory(
          manager,
          orderId,
          order.status,
          'order.created published again on request (a forced duplicate)',
          Date.now(),
        );
        return this.publisher.publish({ topic: ORDER_CREATED, key: order.id, payload: toPayload(order) }, { manager });
      }),
    );
    this.logger.log(`order.created of order ${orderId} published again as message ${messageId}`);
    return { orderId, messageId };
  }

  private async addHistory(
    manager: EntityManager,
    orderId: string,
    status: OrderStatus,
    note: string,
    at: number,
  ): Promise<void> {
    await manager.insert(OrderHistoryEntity, { orderId, status, note, at });
  }
}

function toPayload(order: OrderEntity): OrderCreatedPayload {
  return { orderId: order.id, customerId: order.customerId, amount: fromCents(order.amountCents), card: order.card };
}
