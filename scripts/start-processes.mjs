#!/usr/bin/env node
// `npm run start:processes`: the sample as three processes (broker, order service, payment service); see
// docs/sample.md. `npm start` runs the single-process sample on the embedded broker.
import { runTs } from './run-ts.mjs';

runTs('apps/sample/processes.ts');
