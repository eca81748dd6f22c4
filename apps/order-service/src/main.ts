// The order service as its own process, against the standalone broker: BROKER_URL, BROKER_TOKEN, ORDER_PORT
// (default 3001), HOST (default 127.0.0.1), DATABASE_FILE (default ./data/orders.sqlite). `npm run start:processes`
// starts it next to the broker and the payment service; see docs/sample.md.
import 'reflect-metadata';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createOrderServiceApp } from './order-service.app';

async function main(): Promise<void> {
  const port = Number(process.env.ORDER_PORT ?? 3001);
  const host = process.env.HOST?.trim() || '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`ORDER_PORT must be a port number; got ${JSON.stringify(process.env.ORDER_PORT)}.`);
    process.exit(2);
  }
  const app = await createOrderServiceApp({
    port,
    host,
    databaseFile: resolve(process.env.DATABASE_FILE?.trim() || 'data/orders.sqlite'),
    // url and token default to BROKER_URL and BROKER_TOKEN.
    transport: { kind: 'remote', clientName: `order-service:${process.pid}` },
  });
  const address = app.getHttpServer().address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${address.port}`;
  console.log(`Order service listening on ${url} (broker ${process.env.BROKER_URL})`);
  if (process.env.SERVICE_READY_LINE === 'true') process.stdout.write(`SERVICE_READY ${JSON.stringify({ url })}\n`);
}

main().catch((error: unknown) => {
  console.error('The order service failed to start:', error);
  process.exit(1);
});
