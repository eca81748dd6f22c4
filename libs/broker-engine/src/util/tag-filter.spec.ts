import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, type BrokerEngine, type Delivery } from '@reliable-mq/engine';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';
import { compileTagFilter } from './tag-filter';

describe('tag filter', () => {
  it('matches everything with "*", an empty or a missing expression', () => {
    for (const expression of [undefined, '', '  ', '*', ' * ']) {
      const filter = compileTagFilter(expression);
      expect(filter([]), String(expression)).toBe(true);
      expect(filter(['a']), String(expression)).toBe(true);
    }
  });

  it('matches a message carrying any of the alternatives', () => {
    const filter = compileTagFilter('created || paid');
    expect(filter(['created'])).toBe(true);
    expect(filter(['shipped', 'paid'])).toBe(true);
    expect(filter(['shipped'])).toBe(false);
    expect(filter([])).toBe(false);
    expect(compileTagFilter('created')(['created'])).toBe(true);
    expect(compileTagFilter('created')(['Created'])).toBe(false);
  });

  it('rejects a malformed expression', () => {
    for (const expression of ['||', ' || ', '|| ||', 'a || *', '* || a']) {
      expect(() => compileTagFilter(expression), expression).toThrow(InvalidArgumentError);
      expect(() => compileTagFilter(expression), expression).toThrow(/malformed/);
    }
    for (const expression of [42, null, {}, ['a']]) {
      expect(() => compileTagFilter(expression as unknown as string), JSON.stringify(expression)).toThrow(
        InvalidArgumentError,
      );
    }
  });
});

describe('tag subscriptions', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  async function collect(engine: BrokerEngine, group: string, tags: string | undefined): Promise<Delivery[]> {
    const seen: Delivery[] = [];
    await engine.subscribe({
      group,
      topic: 'orders',
      tags,
      startFrom: 'earliest',
      handler: async (delivery) => {
        seen.push(delivery);
      },
    });
    return seen;
  }

  it('delivers only matching messages and still moves the committed offset past the others', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    await engine.publish([
      { topic: 'orders', body: 'created-1', tags: 'created' },
      { topic: 'orders', body: 'paid-1', tags: ['paid', 'card'] },
      { topic: 'orders', body: 'shipped-1', tags: 'shipped' },
      { topic: 'orders', body: 'untagged' },
      { topic: 'orders', body: 'created-2', tags: ['created'] },
      { topic: 'orders', body: 'shipped-2', tags: ['shipped', 'express'] },
    ]);
    const all = await collect(engine, 'everything', '*');
    const some = await collect(engine, 'money', 'created || paid');
    const defaulted = await collect(engine, 'defaulted', undefined);

    await until(() => all.length === 6 && defaulted.length === 6 && some.length === 3, 5000, 'deliveries');
    await until(
      () =>
        engine
          .stats()
          .groups.filter((g) => g.topic === 'orders')
          .every((g) => g.lag === 0),
      5000,
      'every group caught up',
    );
    await sleep(50);
    expect(all.map(text).sort()).toEqual(['created-1', 'created-2', 'paid-1', 'shipped-1', 'shipped-2', 'untagged']);
    expect(some.map(text).sort()).toEqual(['created-1', 'created-2', 'paid-1']);
    expect(some.find((d) => text(d) === 'paid-1')!.tags).toEqual(['paid', 'card']);

    const money = engine.stats().groups.find((g) => g.group === 'money' && g.topic === 'orders')!;
    expect(money.committedOffsets).toEqual({ 0: 3, 1: 3 });
    expect(money.lag).toBe(0);
  });

  it('keeps skipped messages skipped after a restart', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 1 });
    const some = await collect(engine, 'money', 'paid');
    await engine.publish([
      { topic: 'orders', body: 'skip-1', tags: 'shipped' },
      { topic: 'orders', body: 'skip-2', tags: 'shipped' },
    ]);
    await until(
      () => engine.stats().groups.find((g) => g.group === 'money')!.committedOffsets[0] === 2,
      5000,
      'skips committed',
    );
    await sleep(50);
    expect(some).toEqual([]);
    const dir = engine.options.dataDir;
    await engine.close();
    const reopened = kit.open({ dataDir: dir });
    expect(reopened.stats().groups.find((g) => g.group === 'money' && g.topic === 'orders')!.committedOffsets[0]).toBe(
      2,
    );
  });

  it('refuses a subscription with a malformed expression', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const handler = async (): Promise<void> => undefined;
    await expect(engine.subscribe({ group: 'g', topic: 'orders', tags: '||', handler })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(engine.subscribe({ group: 'g', topic: 'orders', tags: 'a || *', handler })).rejects.toThrow(
      /malformed/,
    );
    await expect(
      engine.subscribe({ group: 'g', topic: 'orders', tags: 7 as unknown as string, handler }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    // Nothing was half-registered by the refused subscriptions.
    expect(engine.stats().groups).toEqual([]);
  });
});
