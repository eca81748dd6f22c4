#!/usr/bin/env node
// `npm run start:broker`: the standalone broker (apps/broker). Settings: BROKER_HOST, BROKER_PORT, BROKER_DATA_DIR,
// BROKER_TOKEN and the rest listed in docs/broker.md.
import { runTs } from './run-ts.mjs';

runTs('apps/broker/src/main.ts');
