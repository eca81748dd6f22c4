#!/usr/bin/env node
// `npm start`: the order/payment sample as separate processes: the standalone broker, the order service, the payment
// service and the compensation console (apps/sample/start-processes.ts); a broker process that dies is restarted.
// Settings: ORDER_PORT, PAYMENT_PORT, CONSOLE_PORT, BROKER_PORT, BROKER_TOKEN, HOST, DATA_DIR; see docs/sample.md.
// RABBITMQ_URL with DATABASE_URL: the services and the console on RabbitMQ and PostgreSQL, no broker process.
// `npm run start:embedded` runs it in one process.
import { runTs } from './run-ts.mjs';

runTs('apps/sample/start-processes.ts');
