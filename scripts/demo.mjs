#!/usr/bin/env node
// `npm run demo`: places a bounded stream of mixed orders against the running sample (or starts one) and shows a
// live summary. Settings: DEMO_ORDERS, DEMO_RATE, DEMO_DUPLICATES, DEMO_TIMEOUT_S, plus the sample's own.
import { runTs } from './run-ts.mjs';

runTs('apps/sample/demo.ts');
