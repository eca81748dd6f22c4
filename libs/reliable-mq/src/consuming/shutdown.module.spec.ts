import { Injectable } from '@nestjs/common';
import { BrokerEngine } from '@reliable-mq/engine';
import { MqConsumer, ReliableMqModule, reliableMqEntities, type MessageContext } from '@reliable-mq/nestjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, startTestingModule } from '../../test/testing-module';

const HANDLER_MS = 400;
/** Far longer than the handlers: the close must not wait it out. */
const SHUTDOWN_TIMEOUT_MS = 5_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
class SlowLedger {
  readonly started: Array<{ orderId: string; attempt: number }> = [];
  readonly finished: string[] = [];

  @MqConsumer<{ orderId: string }>({ topic: 'order.created', group: 'ledger', dedupKey: (event) => event.orderId })
  async apply(event: { orderId: string }, ctx: MessageContext): Promise<void> {
    this.started.push({ orderId: event.orderId, attempt: ctx.attempt });
    await sleep(HANDLER_MS);
    this.finished.push(event.orderId);
  }
}

const cleanups = cleanupAfterEach();

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * With the `db` dedup store on SQLite, handlers run one transaction at a time, so the deliveries a member holds wait
 * for the database, not for a handler. A shutdown waits for the handler that runs; the ones that have not started do
 * not start, and go back to the broker at once, without counting as an attempt.
 */
describe('shutdown with deliveries waiting to start', () => {
  it('waits for the running handler only; the rest are handled once, as first attempts, after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-shutdown-'));
    const engine = BrokerEngine.open({ dataDir: join(dir, 'broker'), flush: 'async', minFreeDiskBytes: 0 });
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(dir, 'app.sqlite'),
      entities: [...reliableMqEntities],
    });
    await dataSource.initialize();
    cleanups.push(async () => {
      await engine.close();
      if (dataSource.isInitialized) await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    });
    engine.createTopic('order.created', { queueCount: 1 });
    const orders = ['o-1', 'o-2', 'o-3', 'o-4', 'o-5'];
    await engine.publish(
      orders.map((orderId) => ({ topic: 'order.created', key: orderId, body: JSON.stringify({ orderId }) })),
    );
    const start = () =>
      startTestingModule(
        {
          imports: [
            ReliableMqModule.forRoot({
              producerGroup: 'ledger-service',
              dataSource,
              runMigrations: true,
              transport: { kind: 'embedded', sharedEngine: engine },
              dedup: { store: 'db' },
              shutdownTimeoutMs: SHUTDOWN_TIMEOUT_MS,
            }),
          ],
          providers: [SlowLedger],
        },
        cleanups,
      );

    const first = await start();
    const ledger = first.app.get(SlowLedger);
    await until(() => ledger.started.length === 1, 'the first handler to start');
    const closing = Date.now();
    await first.close();
    const closeMs = Date.now() - closing;
    expect(ledger.started.map((run) => run.orderId)).toEqual(['o-1']);
    expect(ledger.finished).toEqual(['o-1']);
    // One handler's time: not five in a row, nor the shutdown timeout (the engine took the four back at once).
    expect(closeMs).toBeLessThan(HANDLER_MS * 3);

    const second = await start();
    const restarted = second.app.get(SlowLedger);
    await until(() => restarted.finished.length === 4, 'the other four orders after the restart');
    expect(restarted.started).toEqual(orders.slice(1).map((orderId) => ({ orderId, attempt: 0 })));
    await second.close();
  });
});
