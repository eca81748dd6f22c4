import { Controller, Get, Inject } from '@nestjs/common';
import { ConsumerRunner, RELIABLE_MQ_TRANSPORT, type HandlerCounters, type Transport } from '@reliable-mq/nestjs';
import { DataSource } from 'typeorm';
import { FakePaymentGateway } from '../gateway/fake-payment-gateway';
import { ORDER_CREATED, PAYMENT_SERVICE_GROUP } from '../messages';

export interface PaymentStats {
  /** `order.created` in this process since it started: handled, duplicates suppressed, failed attempts. */
  orderCreated: HandlerCounters;
  /** Dead letters of the payment group waiting for an operator. */
  deadLetters: number;
  /** Payment rows by status. */
  payments: { SUCCEEDED: number; REFUSED: number };
  /** Charges the gateway made since this process started. */
  gatewayCharges: number;
}

@Controller('ops/stats')
export class StatsController {
  constructor(
    private readonly runner: ConsumerRunner,
    private readonly dataSource: DataSource,
    private readonly gateway: FakePaymentGateway,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
  ) {}

  @Get()
  async stats(): Promise<PaymentStats> {
    const rows = (await this.dataSource.query('SELECT status, COUNT(*) AS n FROM payments GROUP BY status')) as Array<{
      status: string;
      n: number;
    }>;
    const count = (status: string): number => Number(rows.find((row) => row.status === status)?.n ?? 0);
    const dead = await this.transport.deadLetters.list({ group: PAYMENT_SERVICE_GROUP, status: 'dead', limit: 1 });
    return {
      orderCreated: this.runner.countersFor(PAYMENT_SERVICE_GROUP, ORDER_CREATED),
      deadLetters: dead.total,
      payments: { SUCCEEDED: count('SUCCEEDED'), REFUSED: count('REFUSED') },
      gatewayCharges: this.gateway.chargeCount,
    };
  }
}
