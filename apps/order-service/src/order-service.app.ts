import type { INestApplication } from '@nestjs/common';
import { createServiceApp } from '../../shared/src/service-app';
import { OrderServiceModule } from './order-service.module';
import type { OrderServiceAppOptions } from './order-service.options';

/** Creates the order service and starts listening; its own Nest application, sharing nothing but the broker. */
export async function createOrderServiceApp(options: OrderServiceAppOptions): Promise<INestApplication> {
  return createServiceApp(OrderServiceModule.forRoot(options), options);
}
