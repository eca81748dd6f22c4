// The payment service as its own process, against the standalone broker: BROKER_URL, BROKER_TOKEN, PAYMENT_PORT
// (default 3002), HOST (default 127.0.0.1), DATABASE_FILE (default ./data/payments.sqlite), PAYMENT_RETRY_DELAYS.
// `npm run start:processes` starts it next to the broker and the order service; see docs/sample.md.
import 'reflect-metadata';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createPaymentServiceApp } from './payment-service.app';

/** Explicit levels start at the first one; the broker's default levels would start at 10 s. */
const DEFAULT_RETRY_DELAYS = '1s 5s 10s 30s 1m 2m 5m 10m 30m 1h';

async function main(): Promise<void> {
  const port = Number(process.env.PAYMENT_PORT ?? 3002);
  const host = process.env.HOST?.trim() || '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`PAYMENT_PORT must be a port number; got ${JSON.stringify(process.env.PAYMENT_PORT)}.`);
    process.exit(2);
  }
  const app = await createPaymentServiceApp({
    port,
    host,
    databaseFile: resolve(process.env.DATABASE_FILE?.trim() || 'data/payments.sqlite'),
    // url and token default to BROKER_URL and BROKER_TOKEN.
    transport: { kind: 'remote', clientName: `payment-service:${process.pid}` },
    retryDelays: process.env.PAYMENT_RETRY_DELAYS?.trim() || DEFAULT_RETRY_DELAYS,
  });
  const address = app.getHttpServer().address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${address.port}`;
  console.log(`Payment service listening on ${url} (broker ${process.env.BROKER_URL})`);
  if (process.env.SERVICE_READY_LINE === 'true') process.stdout.write(`SERVICE_READY ${JSON.stringify({ url })}\n`);
}

main().catch((error: unknown) => {
  console.error('The payment service failed to start:', error);
  process.exit(1);
});
