import { Logger, type INestApplication, type LoggerService, type LogLevel } from '@nestjs/common';
import { ownerOnlyDirectory, WorkerEngine, type FlushMode, type WorkerEngineOptions } from '@reliable-mq/engine';
import type { EmbeddedTransportOptions, RabbitMqTransportOptions, RelayOptions } from '@reliable-mq/nestjs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createOrderServiceApp } from '../order-service/src/order-service.app';
import { createPaymentServiceApp } from '../payment-service/src/payment-service.app';
import { sampleOpsToken } from './ops-token';
import { startSampleConsole, type SampleConsole, type SampleConsoleOptions } from './sample-console';

export const SAMPLE_TOPICS = ['order.created', 'payment.succeeded', 'payment.failed'];

/**
 * Retry delays of the payment consumer. Explicit levels start at the first one; the broker's default levels start
 * at the third (10 s), as in RocketMQ, which would keep the card that fails twice waiting for 40 s.
 */
export const DEFAULT_RETRY_DELAYS = '1s 5s 10s 30s 1m 2m 5m 10m 30m 1h';

export interface SampleOptions {
  /** Holds `orders.sqlite`, `payments.sqlite` and the broker's `broker/` directory. */
  dataDir: string;
  /** Interface both services listen on. Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  orderPort: number;
  paymentPort: number;
  /** Broker flush mode. Default `sync`: a confirm means fsynced. */
  flush?: FlushMode;
  /** Any other broker option (checkback timings, limits). */
  engine?: Omit<WorkerEngineOptions, 'dataDir' | 'flush'>;
  /** Retry delays of the payment consumer. Default DEFAULT_RETRY_DELAYS. */
  retryDelays?: string;
  maxRetries?: number;
  relay?: RelayOptions;
  logger?: LoggerService | LogLevel[] | false;
  /**
   * Token of the payment service's resend endpoint (`authorization: Bearer <token>`). Default: one generated once and
   * kept in `<dataDir>/ops-token`.
   */
  opsToken?: string;
  /** Also serve the compensation console (`npm start` does). Left out: no console. */
  console?: SampleConsoleOptions;
  /**
   * RabbitMQ instead of the embedded broker: `{ url }` and any other RabbitMQ transport option. Each service then
   * connects on its own, and `flush` / `engine` do not apply.
   */
  rabbitmq?: Omit<RabbitMqTransportOptions, 'kind' | 'topics'>;
  /**
   * PostgreSQL instead of the two SQLite files: both services use this database, each in a schema of its own
   * (`order_service`, `payment_service` unless named here).
   */
  postgres?: { url: string; orderSchema?: string; paymentSchema?: string };
}

export interface Sample {
  /** The one broker engine both services use, on a worker thread of its own; absent on RabbitMQ. */
  engine?: WorkerEngine;
  /** Which broker the services use. */
  broker: 'embedded' | 'rabbitmq';
  orderService: INestApplication;
  paymentService: INestApplication;
  orderUrl: string;
  paymentUrl: string;
  /** What the payment service's resend endpoint takes as `authorization: Bearer <token>`. */
  opsToken: string;
  /** The compensation console, when `console` was given. */
  console?: SampleConsole;
  /** Closes both services (consumers drain, relays stop), then the engine. */
  close(): Promise<void>;
}

/** The listen call failed because something else holds the port. */
export class PortInUseError extends Error {
  constructor(
    readonly service: 'order service' | 'payment service' | 'console',
    readonly port: number,
  ) {
    super(`Port ${port} (${service}) is already in use.`);
    this.name = 'PortInUseError';
  }
}

/**
 * Starts the order and payment services as two Nest applications in this process, each with its own module graph
 * and SQLite database, sharing one embedded broker engine (in `<dataDir>/broker`) that runs on a worker thread, so its
 * commits and fsyncs never hold up the services' HTTP requests. The engine is opened once here: two engines on one
 * directory would each keep their own offsets and step on each other.
 *
 * With `rabbitmq` and `postgres` the same services run on RabbitMQ and PostgreSQL instead: nothing in them changes
 * but their configuration.
 */
export async function startSample(options: SampleOptions): Promise<Sample> {
  ownerOnlyDirectory(options.dataDir);
  const opsToken = sampleOpsToken(options.dataDir, options.opsToken);
  let engine: WorkerEngine | undefined;
  let transport: EmbeddedTransportOptions | RabbitMqTransportOptions;
  if (options.rabbitmq) {
    transport = { ...options.rabbitmq, kind: 'rabbitmq' };
  } else {
    const logger = new Logger('BrokerEngine');
    engine = await WorkerEngine.open({
      ...options.engine,
      dataDir: join(options.dataDir, 'broker'),
      flush: options.flush ?? 'sync',
      onError: options.engine?.onError ?? ((error) => logger.error(error.message, error.stack)),
      onWarning: options.engine?.onWarning ?? ((message) => logger.warn(message)),
    });
    for (const topic of SAMPLE_TOPICS) await engine.createTopic(topic);
    transport = { kind: 'embedded', sharedEngine: engine };
  }
  const postgres = options.postgres;
  const host = options.host ?? '127.0.0.1';
  const common = { host, transport, relay: options.relay, logger: options.logger, shutdownHooks: false };

  let paymentService: INestApplication | undefined;
  let orderService: INestApplication | undefined;
  let sampleConsole: SampleConsole | undefined;
  try {
    paymentService = await listening('payment service', options.paymentPort, () =>
      createPaymentServiceApp({
        ...common,
        port: options.paymentPort,
        databaseFile: join(options.dataDir, 'payments.sqlite'),
        databaseUrl: postgres?.url,
        databaseSchema: postgres?.paymentSchema,
        retryDelays: options.retryDelays ?? DEFAULT_RETRY_DELAYS,
        maxRetries: options.maxRetries,
        opsToken,
      }),
    );
    orderService = await listening('order service', options.orderPort, () =>
      createOrderServiceApp({
        ...common,
        port: options.orderPort,
        databaseFile: join(options.dataDir, 'orders.sqlite'),
        databaseUrl: postgres?.url,
        databaseSchema: postgres?.orderSchema,
      }),
    );
    const consoleOptions = options.console;
    const [order, payment] = [orderService, paymentService];
    if (consoleOptions) {
      sampleConsole = await listeningConsole(consoleOptions.port, () =>
        startSampleConsole({
          options: consoleOptions,
          dataDir: options.dataDir,
          host,
          engine,
          orderService: order,
          paymentService: payment,
          logger: options.logger,
        }),
      );
    }
  } catch (error) {
    await orderService?.close().catch(() => undefined);
    await paymentService?.close().catch(() => undefined);
    await engine?.close();
    throw error;
  }

  const order = orderService;
  const payment = paymentService;
  let closing: Promise<void> | undefined;
  return {
    engine,
    broker: engine ? 'embedded' : 'rabbitmq',
    orderService: order,
    paymentService: payment,
    orderUrl: urlOf(order, host),
    paymentUrl: urlOf(payment, host),
    opsToken,
    console: sampleConsole,
    close: () =>
      (closing ??= (async () => {
        // The console first: it reads the services' databases and the broker they share.
        await sampleConsole?.app.close().catch(() => undefined);
        const results = await Promise.allSettled([order.close(), payment.close()]);
        await engine?.close();
        const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
        if (failure) throw failure.reason;
      })()),
  };
}

async function listening(
  service: 'order service' | 'payment service',
  port: number,
  create: () => Promise<INestApplication>,
): Promise<INestApplication> {
  try {
    return await create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') throw new PortInUseError(service, port);
    throw error;
  }
}

async function listeningConsole(port: number, create: () => Promise<SampleConsole>): Promise<SampleConsole> {
  try {
    return await create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') throw new PortInUseError('console', port);
    throw error;
  }
}

function urlOf(app: INestApplication, host: string): string {
  const { port } = app.getHttpServer().address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
