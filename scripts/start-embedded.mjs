#!/usr/bin/env node
// `npm run start:embedded`: the order/payment sample and its console in one process, on the embedded broker (or on
// RabbitMQ and PostgreSQL with RABBITMQ_URL and DATABASE_URL). Settings: ORDER_PORT, PAYMENT_PORT, CONSOLE_PORT, HOST,
// DATA_DIR; see docs/sample.md.
import { runTs } from './run-ts.mjs';

runTs('apps/sample/start-embedded.ts');
