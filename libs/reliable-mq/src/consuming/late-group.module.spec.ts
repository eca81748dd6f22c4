import { Injectable } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerEngine } from '@reliable-mq/engine';
import { describe, expect, it } from 'vitest';
import { MqConsumer, ReliableMqModule, type MessageContext, type ReliableMqModuleOptions } from '@reliable-mq/nestjs';
import { waitForIdle } from '@reliable-mq/nestjs/testing';
import { cleanupAfterEach, startTestingModule } from '../../test/testing-module';

@Injectable()
class ShippingHandler {
  readonly seen: string[] = [];

  @MqConsumer({ topic: 'order.created', group: 'shipping' })
  async ship(_payload: unknown, ctx: MessageContext): Promise<void> {
    this.seen.push(ctx.id);
  }
}

const cleanups = cleanupAfterEach();

/** An engine with `order.created` and three messages published on it before any application consumed it. */
async function engineWithHistory(): Promise<{ engine: BrokerEngine; published: string[] }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-late-module-'));
  const engine = BrokerEngine.open({ dataDir, flush: 'async', minFreeDiskBytes: 0 });
  cleanups.push(async () => {
    await engine.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  engine.createTopic('order.created');
  const results = await engine.publish(
    ['o-1', 'o-2', 'o-3'].map((id) => ({ topic: 'order.created', key: id, body: JSON.stringify({ orderId: id }) })),
  );
  return { engine, published: results.map((result) => result.messageId) };
}

async function start(engine: BrokerEngine, options: Partial<ReliableMqModuleOptions> = {}): Promise<ShippingHandler> {
  const { app } = await startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'shipping-service',
          transport: { kind: 'embedded', sharedEngine: engine },
          ...options,
        }),
      ],
      providers: [ShippingHandler],
    },
    cleanups,
  );
  await waitForIdle(app);
  return app.get(ShippingHandler);
}

describe('@MqConsumer of a group that subscribes after messages were published', () => {
  it('receives them without naming a start position', async () => {
    const { engine, published } = await engineWithHistory();
    const handler = await start(engine);
    const started = Date.now();
    while (handler.seen.length < published.length && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(handler.seen.sort()).toEqual([...published].sort());
  });

  it('receives none of them with consumers.startFrom "latest"', async () => {
    const { engine } = await engineWithHistory();
    const handler = await start(engine, { consumers: { startFrom: 'latest' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handler.seen).toEqual([]);
  });

  it('refuses a consumers.startFrom it does not know, at startup', async () => {
    const { engine } = await engineWithHistory();
    await expect(start(engine, { consumers: { startFrom: 'first' as never } })).rejects.toThrow(
      /consumers\.startFrom must be "earliest" or "latest"; got "first"/,
    );
  });
});
