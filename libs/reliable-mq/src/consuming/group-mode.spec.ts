import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EmbeddedTransport } from '../transport/embedded.transport';
import type { SubscriptionSpec } from '../transport/transport.interface';
import { MqConsumer } from './mq-consumer.decorator';

describe('groupMode', () => {
  it('is checked when @MqConsumer is applied', () => {
    expect(() => {
      class Handlers {
        @MqConsumer({ topic: 't', group: 'g', groupMode: 'everyone' as never })
        handle(): void {}
      }
      return Handlers;
    }).toThrow(/groupMode must be "clustering" or "broadcasting", got "everyone"/);
  });

  it('broadcasting on the embedded transport: every member gets every message', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-group-mode-'));
    const transport = new EmbeddedTransport({
      kind: 'embedded',
      dataDir,
      flush: 'async',
      engine: { minFreeDiskBytes: 0 },
    });
    await transport.connect();
    try {
      await transport.ensureTopic('cache.changed');
      const got: Record<string, string[]> = { a: [], b: [] };
      const spec = (consumerId: string): SubscriptionSpec => ({
        group: 'caches',
        topic: 'cache.changed',
        mode: 'concurrent',
        prefetch: 4,
        maxReconsumeTimes: 1,
        startFrom: 'earliest',
        consumerId,
        groupMode: 'broadcasting',
      });
      const subs = await Promise.all(
        ['a', 'b'].map((member) =>
          transport.subscribe(spec(member), async (message) => void got[member]!.push(message.id)),
        ),
      );
      const ids = [randomUUID(), randomUUID()];
      await transport.publish(ids.map((id) => ({ id, topic: 'cache.changed', headers: {}, body: Buffer.from('x') })));
      const started = Date.now();
      while ((got.a!.length < 2 || got.b!.length < 2) && Date.now() - started < 5000)
        await new Promise((r) => setTimeout(r, 20));
      expect(got.a!.sort()).toEqual([...ids].sort());
      expect(got.b!.sort()).toEqual([...ids].sort());
      await Promise.all(subs.map((sub) => sub.close(1000)));
    } finally {
      await transport.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
