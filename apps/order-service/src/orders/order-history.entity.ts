import { epochMsTransformer } from '@reliable-mq/nestjs';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { OrderStatus } from './order-status';

/** One line per status change of an order, with what caused it. */
@Entity({ name: 'order_history' })
export class OrderHistoryEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ name: 'order_id', type: 'varchar', length: 36 })
  orderId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: OrderStatus;

  @Column({ type: 'varchar', length: 500 })
  note!: string;

  /** Epoch ms. */
  @Column({ type: 'bigint', transformer: epochMsTransformer })
  at!: number;
}
