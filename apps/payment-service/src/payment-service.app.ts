import type { INestApplication } from '@nestjs/common';
import { createServiceApp } from '../../shared/src/service-app';
import { PaymentServiceModule } from './payment-service.module';
import type { PaymentServiceAppOptions } from './payment-service.options';

/** Creates the payment service and starts listening; its own Nest application, sharing nothing but the broker. */
export async function createPaymentServiceApp(options: PaymentServiceAppOptions): Promise<INestApplication> {
  return createServiceApp(PaymentServiceModule.forRoot(options), options);
}
