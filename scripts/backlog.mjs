#!/usr/bin/env node
// `npm run backlog -- <command>`: the standalone broker's backlog calls from a shell (report, expand, redistribute,
// preview-reset, reset); `npm run backlog` alone lists them. The same as `reliable-mq-broker backlog <command>`.
import { runTs } from './run-ts.mjs';

process.argv.splice(2, 0, 'backlog');
runTs('apps/broker/src/main.ts');
