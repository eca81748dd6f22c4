import { WorkerEngine, type Delivery, type WorkerEngineOptions } from '@reliable-mq/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, tempDataDir, until } from '../../test/engine-test-kit';
import { SkewedClock } from '../../test/manual-clock';

const CONSUME_TIMEOUT_MS = 60_000;

/** A handler that records each start and holds it until the test lets that message finish. */
class HeldHandlers {
  readonly started: Delivery[] = [];
  running = 0;
  mostRunning = 0;
  private readonly finish = new Map<string, () => void>();

  readonly handler = async (delivery: Delivery): Promise<void> => {
    this.started.push(delivery);
    this.running++;
    this.mostRunning = Math.max(this.mostRunning, this.running);
    await new Promise<void>((resolve) => this.finish.set(delivery.body.toString(), resolve));
    this.running--;
  };

  bodies(): string[] {
    return this.started.map((delivery) => delivery.body.toString());
  }

  async release(body: string): Promise<void> {
    await until(() => this.finish.has(body), 5000, `${body} to start`);
    this.finish.get(body)!();
    this.finish.delete(body);
  }
}

/**
 * A worker engine's member reads ahead: the engine hands it up to its prefetch again beyond the handlers it runs, so
 * that a free handler need not wait for a round trip between the threads. What the member promises stays the
 * in-process engine's: at most `prefetch` handlers at once, a consume timeout that counts from the handler's start, and
 * on close, messages that never started go back without counting as attempts.
 */
describe('WorkerEngine read-ahead', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(options: Partial<WorkerEngineOptions> = {}): Promise<WorkerEngine> {
    const temp = tempDataDir();
    const engine = await WorkerEngine.open({
      dataDir: temp.dir,
      minFreeDiskBytes: 0,
      consumeTimeoutMs: CONSUME_TIMEOUT_MS,
      maintenanceIntervalMs: 3_600_000,
      ...options,
    });
    cleanups.push(temp.cleanup, () => engine.close(1000));
    await engine.createTopic('t', { queueCount: 1 });
    return engine;
  }

  /** A member with prefetch 1, handed `first` (running) and `second` (held behind it), on a clock the test moves. */
  async function oneRunningOneHeld(): Promise<{ clock: SkewedClock; engine: WorkerEngine; held: HeldHandlers }> {
    const clock = new SkewedClock();
    const engine = await open({ clock });
    const held = new HeldHandlers();
    await engine.subscribe({ group: 'g', topic: 't', prefetch: 1, handler: held.handler });
    await engine.publish([
      { topic: 't', body: 'first' },
      { topic: 't', body: 'second' },
    ]);
    await until(async () => (await inFlight(engine)) === 2, 5000, 'both messages to be handed out');
    return { clock, engine, held };
  }

  async function inFlight(engine: WorkerEngine): Promise<number> {
    const stats = await engine.stats();
    return stats.groups.filter((group) => group.group === 'g').reduce((sum, group) => sum + group.inFlight, 0);
  }

  it('runs at most prefetch handlers at once while the engine hands out as many again, in offset order', async () => {
    const engine = await open();
    const held = new HeldHandlers();
    await engine.subscribe({ group: 'g', topic: 't', prefetch: 2, handler: held.handler });
    await engine.publish(['m0', 'm1', 'm2', 'm3', 'm4', 'm5'].map((body) => ({ topic: 't', body })));
    await until(async () => (await inFlight(engine)) === 4, 5000, 'the read-ahead to be handed out');
    await until(() => held.started.length === 2, 5000, 'two handlers to start');
    await sleep(50);
    expect(held.bodies()).toEqual(['m0', 'm1']);
    for (const body of ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']) await held.release(body);
    await until(async () => (await inFlight(engine)) === 0, 5000, 'every message to be acked');
    expect(held.bodies()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    expect(held.mostRunning).toBe(2);
    expect(held.started.map((delivery) => delivery.deliveryCount)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("counts a held message's consume timeout from its handler's start, not from its hand-out", async () => {
    const { clock, engine, held } = await oneRunningOneHeld();
    clock.advance(CONSUME_TIMEOUT_MS * 0.75);
    await engine.runMaintenance();
    await held.release('first');
    await until(() => held.started.length === 2, 5000, 'the held message to start');
    // 1.5 timeouts after its hand-out, 0.75 after its start: not due.
    clock.advance(CONSUME_TIMEOUT_MS * 0.75);
    await engine.runMaintenance();
    await held.release('second');
    await until(async () => (await inFlight(engine)) === 0, 5000, 'both messages to be acked');
    expect(held.bodies()).toEqual(['first', 'second']);
    expect(held.started[1]!.deliveryCount).toBe(1);
  });

  it('never starts a held message on a hand-out the engine has timed out: the copy handed out again runs once', async () => {
    const { clock, engine, held } = await oneRunningOneHeld();
    // Both time out: the running one and the one held behind it are handed out again, and wait behind it.
    clock.advance(CONSUME_TIMEOUT_MS + 1);
    await engine.runMaintenance();
    await until(async () => (await inFlight(engine)) === 2, 5000, 'both messages to be handed out again');
    await held.release('first');
    // The first ran past its timeout, so it runs again, as in process; the second's old hand-out is given back.
    await held.release('first');
    await held.release('second');
    await until(async () => (await inFlight(engine)) === 0, 5000, 'both messages to be acked');
    expect(held.bodies()).toEqual(['first', 'first', 'second']);
    expect(held.started[2]!).toMatchObject({ deliveryCount: 2, reconsumeTimes: 0 });
  });

  it('on close, gives back what never started: another member handles it as a first attempt', async () => {
    const engine = await open();
    const leaving = new HeldHandlers();
    const member = await engine.subscribe({ group: 'g', topic: 't', prefetch: 1, handler: leaving.handler });
    await engine.publish(['a', 'b', 'c'].map((body) => ({ topic: 't', body })));
    await until(async () => (await inFlight(engine)) === 2, 5000, 'the read-ahead to be handed out');
    const closed = member.close(5000);
    await leaving.release('a');
    await closed;
    const staying = new HeldHandlers();
    await engine.subscribe({ group: 'g', topic: 't', prefetch: 4, handler: staying.handler });
    await staying.release('b');
    await staying.release('c');
    await until(async () => (await inFlight(engine)) === 0, 5000, 'every message to be acked');
    expect(leaving.bodies()).toEqual(['a']);
    expect(staying.bodies()).toEqual(['b', 'c']);
    expect(staying.started.map(({ deliveryCount, reconsumeTimes }) => [deliveryCount, reconsumeTimes])).toEqual([
      [1, 0],
      [1, 0],
    ]);
  });

  it('shares one prefetch between subscriptions under one member id, as the engine does', async () => {
    const engine = await open();
    await engine.createTopic('u', { queueCount: 1 });
    const held = new HeldHandlers();
    await engine.subscribe({ group: 'g', topic: 't', memberId: 'one', prefetch: 2, handler: held.handler });
    await engine.subscribe({ group: 'g', topic: 'u', memberId: 'one', prefetch: 2, handler: held.handler });
    await engine.publish([
      { topic: 't', body: 't0' },
      { topic: 't', body: 't1' },
      { topic: 'u', body: 'u0' },
      { topic: 'u', body: 'u1' },
    ]);
    await until(() => held.started.length === 2, 5000, 'two handlers to start');
    await sleep(50);
    expect(held.running).toBe(2);
    for (const body of held.bodies()) await held.release(body);
    await until(() => held.started.length === 4, 5000, 'the other two to start');
    for (const body of held.bodies().slice(2)) await held.release(body);
    expect(held.mostRunning).toBe(2);
  });
});
