import { epochMsTransformer } from '@reliable-mq/nestjs';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { OrderStatus } from './order-status';

@Entity({ name: 'orders' })
export class OrderEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'customer_id', type: 'varchar', length: 64 })
  customerId!: string;

  /** Money as integer cents, so that sums and comparisons are exact. */
  @Column({ name: 'amount_cents', type: 'integer' })
  amountCents!: number;

  /**
   * The test card, kept so that `order.created` can be published again on purpose (see OrdersService.republish).
   * A real service would keep a payment token from its provider, never a card number.
   */
  @Column({ type: 'varchar', length: 19 })
  card!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: OrderStatus;

  /** Epoch ms. */
  @Column({ name: 'created_at', type: 'bigint', transformer: epochMsTransformer })
  createdAt!: number;

  /** Epoch ms. */
  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMsTransformer })
  updatedAt!: number;
}
