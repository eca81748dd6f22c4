#!/usr/bin/env node
// `npm run console`: the compensation console on its own (apps/console). `-- hash-password`, `-- new-token`.
import { runTs } from './run-ts.mjs';

runTs('apps/console/src/main.ts');
