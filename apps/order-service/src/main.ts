// The order service as its own process, against the standalone broker: BROKER_URL, BROKER_TOKEN, ORDER_PORT
// (default 3001), HOST (default 127.0.0.1), DATABASE_FILE (default ./data/orders.sqlite). `npm run start:processes`
// starts it next to the broker and the payment service; see docs/sample.md.
import 'reflect-metadata';
import { runServiceProcess } from '../../shared/src/service-process';
import { createOrderServiceApp } from './order-service.app';

runServiceProcess({
  name: 'order service',
  portVariable: 'ORDER_PORT',
  defaultPort: 3001,
  defaultDatabaseFile: 'data/orders.sqlite',
  start: (settings) =>
    createOrderServiceApp({
      ...settings,
      // url and token default to BROKER_URL and BROKER_TOKEN.
      transport: { kind: 'remote', clientName: `order-service:${process.pid}` },
    }),
});
