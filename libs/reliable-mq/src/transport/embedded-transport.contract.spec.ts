import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import {
  acksBeforeHandlerFinishes,
  confirmsWithoutPublishing,
  dropsFailedMessages,
  expectContractToCatch,
  reordersOrderlyDeliveries,
  type BreakageCase,
} from '../../test/broken-transports';
import { randomTopics } from '../../test/random-topics';
import { transportContract, type TransportFixture } from '../testing/transport.contract';
import { EmbeddedTransport } from './embedded.transport';

async function embeddedFixture(thread: 'main' | 'worker' = 'main'): Promise<TransportFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-transport-'));
  const transport = new EmbeddedTransport({ kind: 'embedded', dataDir, thread, engine: { minFreeDiskBytes: 0 } });
  await transport.connect();
  return {
    transport,
    capabilities: { idempotentPublish: true },
    newTopic: randomTopics(transport),
    cleanup: async () => {
      await transport.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

transportContract('embedded', () => embeddedFixture(), { describe, it });
transportContract('embedded, engine on a worker thread', () => embeddedFixture('worker'), { describe, it });

/** Each breakage, and the contract case that must catch it. */
const breakages: BreakageCase[] = [
  {
    name: 'acks before the handler finishes and swallows failures',
    caughtBy: 'the message is acked only after the handler resolves',
    breakage: acksBeforeHandlerFinishes('broken'),
  },
  {
    name: 'confirms a publish without storing it',
    caughtBy: 'a subscriber receives body',
    breakage: confirmsWithoutPublishing('broken'),
  },
  {
    name: 'reorders deliveries of one key',
    caughtBy: 'an orderly subscription',
    breakage: reordersOrderlyDeliveries('broken'),
  },
  {
    name: 'drops messages whose handler failed',
    caughtBy: 'after maxReconsumeTimes failures',
    breakage: dropsFailedMessages('broken'),
  },
];

describe('the transport contract catches broken transports', () => {
  for (const breakage of breakages) {
    it(
      `fails a transport that ${breakage.name}`,
      () => expectContractToCatch(breakage, () => embeddedFixture()),
      60_000,
    );
  }
});
