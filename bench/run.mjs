#!/usr/bin/env node
// `npm run bench` / `npm run bench:quick`: runs bench/main.ts with the repository's TypeScript setup (see
// scripts/run-ts.mjs). Options are passed through, e.g. `npm run bench -- --only=engine.publish`.
import { runTs } from '../scripts/run-ts.mjs';

runTs('bench/main.ts');
