import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { setUpHttp } from '../../shared/src/http-setup';
import { PaymentServiceModule } from './payment-service.module';
import type { PaymentServiceAppOptions } from './payment-service.options';

/** Creates the payment service and starts listening; its own Nest application, sharing nothing but the broker. */
export async function createPaymentServiceApp(options: PaymentServiceAppOptions): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(PaymentServiceModule.forRoot(options), {
    bodyParser: false,
    abortOnError: false,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  try {
    setUpHttp(app, options.bodyLimit ?? '16kb');
    if (options.shutdownHooks ?? true) app.enableShutdownHooks();
    await app.listen(options.port, options.host ?? '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}
