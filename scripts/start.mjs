#!/usr/bin/env node
// `npm start`: the order/payment sample on the embedded broker. Settings: ORDER_PORT, PAYMENT_PORT, HOST, DATA_DIR.
import { runTs } from './run-ts.mjs';

runTs('apps/sample/main.ts');
