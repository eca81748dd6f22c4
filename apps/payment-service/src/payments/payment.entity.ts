import { epochMsTransformer } from '@reliable-mq/nestjs';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** `SUCCEEDED`: charged. `REFUSED`: not charged, refused by a business rule (the amount limit). */
export type PaymentStatus = 'SUCCEEDED' | 'REFUSED';

/** At most one row per order (a unique index says so too). */
@Entity({ name: 'payments' })
export class PaymentEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'order_id', type: 'varchar', length: 36 })
  orderId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: PaymentStatus;

  @Column({ name: 'amount_cents', type: 'integer' })
  amountCents!: number;

  @Column({ name: 'card_last4', type: 'varchar', length: 4 })
  cardLast4!: string;

  /** The gateway's charge id; null when nothing was charged. */
  @Column({ name: 'gateway_charge_id', type: 'varchar', length: 64, nullable: true })
  gatewayChargeId!: string | null;

  /** Deliveries of `order.created` it took: 3 for the card that fails twice. */
  @Column({ type: 'integer' })
  attempts!: number;

  @Column({ type: 'varchar', length: 400, nullable: true })
  reason!: string | null;

  /** Id of the `payment.succeeded` or `payment.failed` message; the transaction checker looks rows up by it. */
  @Column({ name: 'message_id', type: 'varchar', length: 36 })
  messageId!: string;

  /** Epoch ms. */
  @Column({ name: 'created_at', type: 'bigint', transformer: epochMsTransformer })
  createdAt!: number;
}
