import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');
const RULE = 'reliable-mq/package-boundaries';

// Lints a snippet as if it were the file at `path` (relative to the repository), with the repository's own config.
async function problems(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).filter((message) => message.ruleId === RULE).map((message) => message.message);
}

describe('the package-boundaries lint rule', () => {
  it('accepts a package name and its declared entry points', async () => {
    const code = [
      "import { ReliableMqModule } from '@reliable-mq/nestjs';",
      "import { waitForIdle } from '@reliable-mq/nestjs/testing';",
      "import { FrameDecoder } from '@reliable-mq/protocol';",
      'export const used = [ReliableMqModule, waitForIdle, FrameDecoder];',
    ].join('\n');
    expect(await problems('apps/order-service/src/probe.ts', code)).toEqual([]);
  });

  it('refuses a deep import into another package, naming its entry points', async () => {
    const code =
      "import { OutboxRelay } from '@reliable-mq/nestjs/outbox/outbox-relay';\nexport const used = OutboxRelay;";
    const found = await problems('libs/console/src/probe.ts', code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(
      "reaches inside @reliable-mq/nestjs, which exports only '@reliable-mq/nestjs', '@reliable-mq/nestjs/testing'",
    );
  });

  it('refuses a relative path from one package into the folder of another', async () => {
    const code =
      "import { BrokerEngine } from '../../broker-engine/src/broker-engine';\nexport const used = BrokerEngine;";
    const found = await problems('libs/reliable-mq/src/probe.ts', code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain('reaches into the folder of @reliable-mq/engine by a relative path');
  });

  it('refuses a relative path from the tests or apps into a package folder', async () => {
    const code = "export { ReliablePublisher } from '../../libs/reliable-mq/src/producing/reliable-publisher.service';";
    expect(await problems('test/support/probe.ts', code)).toHaveLength(1);
  });

  it('lets a package import its own files and the tests share the kits kept in a package test folder', async () => {
    expect(
      await problems(
        'libs/reliable-mq/src/outbox/probe.ts',
        "export * from '../producing/reliable-publisher.service';",
      ),
    ).toEqual([]);
    expect(
      await problems('test/console/probe.ts', "export * from '../../libs/console/test/console-test-kit';"),
    ).toEqual([]);
  });
});
