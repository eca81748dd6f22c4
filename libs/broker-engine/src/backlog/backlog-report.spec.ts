import { afterEach, describe, expect, it } from 'vitest';
import { estimateDrain } from '@reliable-mq/engine';
import { EngineKit, until } from '../../test/engine-test-kit';

describe('estimateDrain', () => {
  it('says drained, draining with a time, growing or stalled', () => {
    expect(estimateDrain(0, 0, 0)).toEqual({ state: 'drained', etaMs: 0 });
    expect(estimateDrain(1000, 150, 50)).toEqual({ state: 'draining', etaMs: 10_000 });
    expect(estimateDrain(1000, 50, 50)).toEqual({ state: 'growing', etaMs: null });
    expect(estimateDrain(1000, 10, 80)).toEqual({ state: 'growing', etaMs: null });
    expect(estimateDrain(1000, 0, 0)).toEqual({ state: 'stalled', etaMs: null });
  });
});

describe('BrokerEngine.backlog', () => {
  let kit: EngineKit;
  afterEach(async () => {
    await kit.dispose();
  });

  it('lists each group and topic with lag, lag in time, members and queues, largest lag first', async () => {
    kit = new EngineKit();
    let now = 5_000_000;
    const engine = kit.open({ clock: { now: () => now } });
    engine.createTopic('orders', { queueCount: 4 });
    engine.createTopic('mails', { queueCount: 1 });
    const handled: string[] = [];
    const subs = await Promise.all(
      ['m1', 'm2'].map((memberId) =>
        engine.subscribe({
          group: 'fast',
          topic: 'mails',
          memberId,
          handler: async (d) => void handled.push(d.messageId),
        }),
      ),
    );
    const offline = await engine.subscribe({ group: 'slow', topic: 'orders', handler: async () => undefined });
    await offline.close();
    await engine.publish(Array.from({ length: 30 }, (_, i) => ({ topic: 'orders', body: `o${i}` })));
    await engine.publish([{ topic: 'mails', body: 'hello' }]);
    await until(() => handled.length === 1, 5000, 'the mail');
    now += 60_000;

    const report = engine.backlog();
    expect(report.at).toBe(now);
    expect(report.entries.map((e) => [e.group, e.topic])).toEqual([
      ['slow', 'orders'],
      ['fast', 'mails'],
    ]);
    expect(report.entries[0]).toMatchObject({ lag: 30, lagMs: 60_000, members: 0, queueCount: 4, inFlight: 0 });
    // A minute later nothing is published or consumed any more: the backlog stays as it is.
    expect(report.entries[0]!.drain).toEqual({ state: 'stalled', etaMs: null });
    expect(report.entries[1]).toMatchObject({ lag: 0, lagMs: 0, members: 2, queueCount: 1 });
    expect(report.entries[1]!.drain).toEqual({ state: 'drained', etaMs: 0 });
    for (const sub of subs) await sub.close();
  });
});
