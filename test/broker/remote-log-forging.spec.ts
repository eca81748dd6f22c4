import { Injectable, Logger, type LoggerService } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientOp, FrameType } from '@reliable-mq/protocol';
import { MqConsumer, ReliableMqModule } from '@reliable-mq/nestjs';
import { cleanupAfterEach, startTestingModule } from '../../libs/reliable-mq/test/testing-module';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { RawBrokerClient } from '../support/raw-broker-client';
import { waitUntil } from '../support/wait-until';

/**
 * A producer elsewhere on the network chooses message ids and payloads; the framework quotes both in its log lines
 * (a handler's error usually quotes the payload). Whatever they hold, each framework line stays one line, and no
 * terminal escape reaches the log.
 */

const TOPIC = 'forged.logs';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

let broker: BrokerProcess;
let dataDir: string;
const lines: string[] = [];
const capture: LoggerService = {
  log: (message: unknown) => void lines.push(String(message)),
  warn: (message: unknown) => void lines.push(String(message)),
  error: (message: unknown) => void lines.push(String(message)),
  debug: (message: unknown) => void lines.push(String(message)),
  verbose: (message: unknown) => void lines.push(String(message)),
};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-log-forging-'));
  broker = await BrokerProcess.start({ dataDir, env: { BROKER_TOPICS: TOPIC } });
}, 60_000);

afterAll(async () => {
  Logger.overrideLogger(['log', 'warn', 'error']);
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const cleanups = cleanupAfterEach();

@Injectable()
class StrictHandler {
  @MqConsumer<{ note: string }>({ topic: TOPIC, group: 'strict', startFrom: 'earliest', maxReconsumeTimes: 0 })
  async handle(payload: { note: string }): Promise<void> {
    throw new Error(`refused a note: ${payload.note}`);
  }
}

describe('the framework log cannot be forged by what producers send', () => {
  it('escapes control characters in message ids and in handler errors quoting payloads', async () => {
    await startTestingModule(
      {
        imports: [
          ReliableMqModule.forRoot({
            producerGroup: 'log-forging',
            transport: { kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN, connectTimeoutMs: 5_000 },
          }),
        ],
        providers: [StrictHandler],
      },
      cleanups,
    );
    // After the testing module installed its own logger.
    Logger.overrideLogger(capture);
    const marker = randomUUID().slice(0, 8);
    const forgedLine = `[Nest] 1  - 01/01/2030, 00:00:00     LOG [ReliableMqConsumers] all paid`;
    const hostile = await RawBrokerClient.open(broker.port, TEST_BROKER_TOKEN);
    try {
      const answer = await hostile.call(ClientOp.PUBLISH, {
        messages: [
          {
            id: `${marker}\n${forgedLine}\u001b[2J`,
            topic: TOPIC,
            body: Buffer.from(JSON.stringify({ note: `${marker}\r\n${forgedLine}\u001b]0;owned\u0007\u2028` })),
          },
        ],
      });
      expect(answer.t).toBe(FrameType.RESPONSE);
    } finally {
      hostile.destroy();
    }
    await waitUntil(() => lines.some((line) => line.includes(`[message="${marker}`)), 'the failure line');
    const quoting = lines.filter((line) => line.includes(marker));
    console.log(`The framework logged:\n  ${quoting.join('\n  ')}`);
    for (const line of quoting) expect(line).not.toMatch(CONTROL);
    expect(quoting.join('\n')).toContain(`${marker}\\n${forgedLine}\\x1b[2J`);
    expect(quoting.join('\n')).toContain(`${marker}\\r\\n${forgedLine}\\x1b]0;owned\\x07\\u2028`);
  });
});
