import { Controller, Get, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ListPaymentsQuery } from './list-payments.query';
import { PaymentEntity } from './payment.entity';
import { toPaymentView, type PaymentView } from './payment.view';

@Controller('payments')
export class PaymentsController {
  constructor(private readonly dataSource: DataSource) {}

  /** The payments of one order: at most one, by construction. */
  @Get()
  async list(@Query() query: ListPaymentsQuery): Promise<{ items: PaymentView[] }> {
    const payments = await this.dataSource.manager.find(PaymentEntity, {
      where: { orderId: query.orderId },
      order: { createdAt: 'ASC' },
    });
    return { items: payments.map(toPaymentView) };
  }
}
