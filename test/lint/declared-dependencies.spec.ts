import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const RULE = 'reliable-mq/declared-dependencies';

// Lints a snippet as if it were the file at `path` (relative to the repository), with the repository's own config.
async function problems(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).filter((message) => message.ruleId === RULE).map((message) => message.message);
}

describe('the declared-dependencies lint rule', () => {
  it('keeps Nest and the framework out of the standalone broker', async () => {
    const code = [
      "import { Injectable } from '@nestjs/common';",
      "import { ReliableMqModule } from '@reliable-mq/nestjs';",
      'export const used = [Injectable, ReliableMqModule];',
    ].join('\n');
    const found = await problems('apps/broker/src/probe.ts', code);
    expect(found).toHaveLength(2);
    expect(found[0]).toContain("'@nestjs/common' is not declared in apps/broker/package.json");
    expect(found[1]).toContain('Declare @reliable-mq/nestjs in its dependencies');
  });

  it('lets the protocol load MessagePack and Node, and nothing of the engine', async () => {
    const allowed = [
      "import { Encoder } from '@msgpack/msgpack';",
      "import type { Socket } from 'node:net';",
      "import { EventEmitter } from 'events';",
      'export type Used = [Encoder, Socket, EventEmitter];',
    ].join('\n');
    expect(await problems('libs/protocol/src/probe.ts', allowed)).toEqual([]);
    const engine = "export { BrokerEngine } from '@reliable-mq/engine';";
    expect(await problems('libs/protocol/src/probe.ts', engine)).toHaveLength(1);
  });

  it('accepts what a package declares, deep paths of it included', async () => {
    const code = [
      "import { BrokerEngine } from '@reliable-mq/engine';",
      "import { FrameType } from '@reliable-mq/protocol';",
      "import { MeterProvider } from '@opentelemetry/sdk-metrics';",
      'export const used = [BrokerEngine, FrameType, MeterProvider];',
    ].join('\n');
    expect(await problems('apps/broker/src/probe.ts', code)).toEqual([]);
  });

  it('leaves specs and test kits, which are not shipped, free to use other packages', async () => {
    const code = "import { ReliableMqModule } from '@reliable-mq/nestjs';\nexport const used = ReliableMqModule;";
    expect(await problems('apps/broker/src/probe.spec.ts', code)).toEqual([]);
    expect(await problems('libs/broker-engine/test/probe.ts', code)).toEqual([]);
    expect(await problems('test/support/probe.ts', code)).toEqual([]);
  });
});
