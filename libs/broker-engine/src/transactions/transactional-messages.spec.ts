import {
  type BrokerEngine,
  type Delivery,
  type EngineOptions,
  type HalfMessage,
  InvalidArgumentError,
  InvalidNameError,
  MessageTooLargeError,
  type TransactionOutcome,
  TransactionNotFoundError,
  TransactionStateError,
  UnknownTopicError,
} from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';

const TOPIC = 'payments';
const GROUP = 'order-service';
/** Fast checkback timing; the defaults (6 s, 30 s) would make these tests slow. */
const FAST = { transactionTimeoutMs: 200, checkIntervalMs: 200, transactionCheckMax: 15 } as const;
/** Long enough for the engine to have delivered a visible message to a subscribed member. */
const SETTLE_MS = 150;

interface Setup {
  engine: BrokerEngine;
  delivered: Delivery[];
  warnings: string[];
}

describe('transactional (half) messages', () => {
  let kit: EngineKit;
  let warnings: string[];

  beforeEach(() => {
    kit = new EngineKit();
    warnings = [];
  });
  afterEach(async () => {
    await kit.dispose();
    expect(kit.errors).toEqual([]);
  });

  async function open(options: Partial<EngineOptions> = {}): Promise<Setup> {
    const engine = kit.open({ ...FAST, onWarning: (message) => warnings.push(message), ...options });
    if (!engine.getTopic(TOPIC)) engine.createTopic(TOPIC, { queueCount: 2 });
    const delivered: Delivery[] = [];
    await engine.subscribe({
      group: 'consumer',
      topic: TOPIC,
      startFrom: 'earliest',
      handler: async (delivery) => {
        delivered.push(delivery);
      },
    });
    return { engine, delivered, warnings };
  }

  const send = (engine: BrokerEngine, body: string, extra: Record<string, unknown> = {}) =>
    engine.sendHalf({ topic: TOPIC, key: `k-${body}`, body, ...extra }, { producerGroup: GROUP });

  it('commit path: invisible until committed, then delivered once, enqueued at commit time', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 60_000 });
    const sent = await send(engine, 'a', { headers: { trace: 't-1' }, tags: 'paid' });
    expect(sent).toMatchObject({ topic: TOPIC, duplicate: false });
    expect(engine.stats().transactions).toEqual({ unresolved: 1, discarded: 0 });
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(0);

    const beforeCommit = Date.now();
    const resolution = await engine.commitHalf(sent.txId);
    expect(resolution).toEqual({
      txId: sent.txId,
      messageId: sent.messageId,
      topic: TOPIC,
      state: 'committed',
      alreadyResolved: false,
    });
    await until(() => delivered.length === 1, 5000, 'the committed message');
    const [delivery] = delivered as [Delivery];
    expect(delivery).toMatchObject({
      messageId: sent.messageId,
      key: 'k-a',
      tags: ['paid'],
      headers: { trace: 't-1' },
    });
    expect(text(delivery)).toBe('a');
    expect(delivery.bornAt).toBeGreaterThanOrEqual(beforeCommit);
    expect(engine.getHalfMessage(sent.txId)).toMatchObject({
      state: 'committed',
      resolvedBy: 'producer',
      checkCount: 0,
    });
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 0 });
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(1);
  });

  it('rollback path: never delivered, record kept for audit', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 60_000 });
    const sent = await send(engine, 'b');
    const resolution = await engine.rollbackHalf(sent.txId, 'payment declined');
    expect(resolution).toMatchObject({ state: 'rolled_back', alreadyResolved: false });
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(0);
    const audit = engine.listHalfMessages({ state: 'rolled_back' });
    expect(audit.total).toBe(1);
    expect(audit.items[0]).toMatchObject({ txId: sent.txId, reason: 'payment declined', resolvedBy: 'producer' });
    expect(text({ body: audit.items[0]!.body } as Delivery)).toBe('b');
    // Idempotent rollback; commit after it is an error.
    expect(await engine.rollbackHalf(sent.txId)).toMatchObject({ alreadyResolved: true });
    await expect(engine.commitHalf(sent.txId)).rejects.toBeInstanceOf(TransactionStateError);
    await expect(engine.commitHalf(sent.txId)).rejects.toThrow(/already rolled back/);
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 0 });
  });

  it('commit is idempotent, even when two commits race, and a rollback after it is an error', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 60_000 });
    const sent = await send(engine, 'c');
    const [first, second] = await Promise.all([engine.commitHalf(sent.txId), engine.commitHalf(sent.txId)]);
    expect([first.alreadyResolved, second.alreadyResolved].sort()).toEqual([false, true]);
    expect((await engine.commitHalf(sent.txId)).alreadyResolved).toBe(true);
    await expect(engine.rollbackHalf(sent.txId)).rejects.toBeInstanceOf(TransactionStateError);
    await until(() => delivered.length === 1, 5000, 'the message');
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(1);
    await expect(engine.commitHalf('no-such-tx')).rejects.toBeInstanceOf(TransactionNotFoundError);
    await expect(engine.rollbackHalf('no-such-tx')).rejects.toBeInstanceOf(TransactionNotFoundError);
  });

  it('validates like publish: same limits and errors, nothing stored on refusal', async () => {
    const { engine } = await open({ maxBodyBytes: 16 });
    await expect(send(engine, 'x'.repeat(17))).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(engine.sendHalf({ topic: 'nope', body: 'x' }, { producerGroup: GROUP })).rejects.toBeInstanceOf(
      UnknownTopicError,
    );
    await expect(engine.sendHalf({ topic: '%RETRY%g', body: 'x' }, { producerGroup: GROUP })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(engine.sendHalf({ topic: TOPIC, body: 'x' }, { producerGroup: 'bad group' })).rejects.toBeInstanceOf(
      InvalidNameError,
    );
    await expect(
      engine.sendHalf({ topic: TOPIC, body: 'x', headers: { n: 1 as unknown as string } }, { producerGroup: GROUP }),
    ).rejects.toThrow(/header "n" must be a string/);
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 0 });
    // A re-sent half message id returns the first result; a published id cannot become a half message.
    const first = await engine.sendHalf({ messageId: 'm-1', topic: TOPIC, body: 'x' }, { producerGroup: GROUP });
    const again = await engine.sendHalf({ messageId: 'm-1', topic: TOPIC, body: 'x' }, { producerGroup: GROUP });
    expect(again).toEqual({ ...first, duplicate: true });
    await engine.publish([{ messageId: 'm-2', topic: TOPIC, body: 'x' }]);
    await expect(
      engine.sendHalf({ messageId: 'm-2', topic: TOPIC, body: 'x' }, { producerGroup: GROUP }),
    ).rejects.toThrow(/already belongs to a published message/);
  });

  it('refuses bad checkback options when the engine opens', () => {
    const { dir, cleanup } = tempDataDir();
    try {
      expect(() => kit.open({ dataDir: dir, transactionCheckMax: 0 })).toThrow(
        /transactionCheckMax must be an integer/,
      );
      expect(() => kit.open({ dataDir: dir, checkIntervalMs: 1.5 })).toThrow(/checkIntervalMs must be an integer/);
      expect(() => kit.open({ dataDir: dir, transactionTimeoutMs: -1 })).toThrow(
        /transactionTimeoutMs must be an integer/,
      );
    } finally {
      cleanup();
    }
  });

  it('unknown, then the checkback commits: first check after transactionTimeoutMs, then every checkIntervalMs', async () => {
    const { engine, delivered } = await open();
    const asked: Array<{ at: number; half: HalfMessage }> = [];
    engine.registerTransactionChecker(GROUP, async (half) => {
      asked.push({ at: Date.now(), half });
      return asked.length < 2 ? 'unknown' : 'commit';
    });
    const sentAt = Date.now();
    const sent = await send(engine, 'd');
    await until(() => delivered.length === 1, 5000, 'the message committed by checkback');
    expect(asked).toHaveLength(2);
    // The engine schedules from its own clock: the first check is due transactionTimeoutMs after sending, the next
    // checkIntervalMs after the first was claimed; a checker is called once its check is due, never before.
    const [first, second] = asked as [(typeof asked)[0], (typeof asked)[0]];
    expect(first.half.sentAt).toBeGreaterThanOrEqual(sentAt);
    expect(first.at).toBeGreaterThanOrEqual(first.half.sentAt + FAST.transactionTimeoutMs);
    expect(first.half.nextCheckAt).toBeGreaterThanOrEqual(
      first.half.sentAt + FAST.transactionTimeoutMs + FAST.checkIntervalMs,
    );
    expect(second.at).toBeGreaterThanOrEqual(first.half.nextCheckAt);
    expect(asked[0]!.half).toMatchObject({
      txId: sent.txId,
      messageId: sent.messageId,
      producerGroup: GROUP,
      topic: TOPIC,
      key: 'k-d',
      state: 'unresolved',
      checkCount: 1,
    });
    expect(asked[0]!.half.body.toString()).toBe('d');
    expect(engine.getHalfMessage(sent.txId)).toMatchObject({
      state: 'committed',
      resolvedBy: 'checkback',
      checkCount: 2,
    });
    // A producer commit arriving late changes nothing.
    expect(await engine.commitHalf(sent.txId)).toMatchObject({ alreadyResolved: true });
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('unknown, then the checkback rolls back: never delivered', async () => {
    const { engine, delivered } = await open();
    let asked = 0;
    engine.registerTransactionChecker(GROUP, async () => (++asked < 3 ? 'unknown' : 'rollback'));
    const sent = await send(engine, 'e');
    await until(() => engine.getHalfMessage(sent.txId)?.state === 'rolled_back', 5000, 'the checkback rollback');
    expect(engine.getHalfMessage(sent.txId)).toMatchObject({
      resolvedBy: 'checkback',
      checkCount: 3,
      reason: 'rolled back by checkback',
    });
    await expect(engine.commitHalf(sent.txId)).rejects.toBeInstanceOf(TransactionStateError);
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(0);
  });

  it('a checker that throws counts as unknown and is reported; the next check still resolves', async () => {
    const { engine, delivered } = await open();
    let asked = 0;
    engine.registerTransactionChecker(GROUP, async () => {
      asked++;
      if (asked === 1) throw new Error('local database unreachable');
      if (asked === 2) return 'maybe' as TransactionOutcome;
      return 'commit';
    });
    const sent = await send(engine, 'f');
    await until(() => delivered.length === 1, 5000, 'the message after a failing checker');
    expect(asked).toBe(3);
    expect(engine.getHalfMessage(sent.txId)).toMatchObject({ state: 'committed', checkCount: 3 });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/failed: Error: local database unreachable\. Counted as unknown/);
    expect(warnings[1]).toMatch(/answered "maybe"/);
  });

  it('after transactionCheckMax unanswered checks the message is discarded with a reason, then committed or discarded by hand', async () => {
    const { engine, delivered } = await open({ transactionCheckMax: 3 });
    let asked = 0;
    engine.registerTransactionChecker(GROUP, async () => {
      asked++;
      return 'unknown';
    });
    const keep = await send(engine, 'keep');
    const drop = await send(engine, 'drop');
    await until(() => engine.stats().transactions.discarded === 2, 5000, 'both messages discarded');
    expect(asked).toBe(6);
    await sleep(FAST.checkIntervalMs + 100);
    expect(asked, 'no check after the last').toBe(6);
    const page = engine.listHalfMessages();
    expect(page.total).toBe(2);
    for (const half of page.items) {
      expect(half).toMatchObject({ state: 'discarded', checkCount: 3 });
      expect(half.reason).toBe('No answer after 3 checks; last check: the checker answered unknown.');
    }
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 2 });
    expect(delivered).toHaveLength(0);

    // Operator actions only apply to discarded messages, and are all-or-nothing.
    const unresolved = await send(engine, 'still-open');
    await expect(engine.commitDiscardedHalves([keep.txId, unresolved.txId])).rejects.toBeInstanceOf(
      TransactionStateError,
    );
    await expect(engine.commitDiscardedHalves([keep.txId, 'nope'])).rejects.toBeInstanceOf(TransactionNotFoundError);
    expect(engine.getHalfMessage(keep.txId)?.state).toBe('discarded');
    await expect(engine.discardDiscardedHalves([drop.txId], ' ')).rejects.toThrow(/non-empty reason/);
    await expect(engine.commitDiscardedHalves([])).rejects.toThrow(/non-empty array/);

    expect(await engine.commitDiscardedHalves([keep.txId])).toEqual([keep.txId]);
    expect(await engine.discardDiscardedHalves([drop.txId], 'customer refunded by phone')).toEqual([drop.txId]);
    await until(() => delivered.length === 1, 5000, 'the message committed by hand');
    expect(text(delivered[0]!)).toBe('keep');
    expect(engine.getHalfMessage(keep.txId)).toMatchObject({ state: 'committed', resolvedBy: 'operator' });
    expect(engine.getHalfMessage(drop.txId)).toMatchObject({
      state: 'rolled_back',
      resolvedBy: 'operator',
      reason: 'customer refunded by phone',
    });
    await expect(engine.commitDiscardedHalves([keep.txId])).rejects.toBeInstanceOf(TransactionStateError);
    await engine.rollbackHalf(unresolved.txId);
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(1);
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 0 });
  });

  it('with no checker registered, checks are retried and counted, and a warning is given once per half message', async () => {
    const { engine, delivered } = await open({ transactionCheckMax: 4 });
    const a = await send(engine, 'a');
    const b = await send(engine, 'b');
    await until(() => engine.stats().transactions.discarded === 2, 5000, 'both discarded');
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toContain(a.txId);
    expect(warnings.join('\n')).toContain(b.txId);
    expect(warnings[0]).toMatch(/No transaction checker is registered for producer group "order-service"/);
    expect(engine.getHalfMessage(a.txId)).toMatchObject({ checkCount: 4 });
    expect(engine.getHalfMessage(a.txId)?.reason).toMatch(
      /last check: no checker is registered for producer group "order-service"/,
    );
    // A late answer from the producer still resolves a discarded message.
    await engine.commitHalf(a.txId);
    await until(() => delivered.length === 1, 5000, 'the late commit');
    expect(engine.stats().transactions).toEqual({ unresolved: 0, discarded: 1 });
  });

  it('asks the instances of a group round-robin; an unregistered one is no longer asked', async () => {
    const { engine, delivered } = await open();
    const calls: string[] = [];
    const answer = (name: string) => async (): Promise<TransactionOutcome> => {
      calls.push(name);
      return 'unknown';
    };
    const unregisterOne = engine.registerTransactionChecker(GROUP, answer('one'));
    engine.registerTransactionChecker(GROUP, answer('two'));
    engine.registerTransactionChecker('other-group', answer('other'));
    const sent = await send(engine, 'g');
    await until(() => calls.length >= 2, 5000, 'two checks');
    expect(calls.slice(0, 2).sort()).toEqual(['one', 'two']);
    unregisterOne();
    unregisterOne();
    const seen = calls.length;
    await until(() => calls.length >= seen + 2, 5000, 'two more checks');
    expect(calls.slice(seen)).toEqual(['two', 'two']);
    await engine.commitHalf(sent.txId);
    await until(() => delivered.length === 1, 5000, 'the commit');
    expect(() => engine.registerTransactionChecker(GROUP, 'x' as never)).toThrow(InvalidArgumentError);
  });

  it('a checkback racing a producer commit gives exactly one delivery', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 50, checkIntervalMs: 50 });
    const COUNT = 60;
    const outcomes = new Map<string, Promise<unknown>>();
    // The checker commits from "the producer" in the same turn as it answers, so both transitions land in one group
    // commit; sometimes the producer's commit comes first, sometimes the answer does.
    engine.registerTransactionChecker(GROUP, async (half) => {
      const producerFirst = Number(half.body.toString().slice(1)) % 2 === 0;
      if (producerFirst) outcomes.set(half.txId, engine.commitHalf(half.txId));
      await Promise.resolve();
      if (!producerFirst) setImmediate(() => outcomes.set(half.txId, engine.commitHalf(half.txId)));
      return 'commit';
    });
    const sent = await Promise.all(Array.from({ length: COUNT }, (_, i) => send(engine, `r${i}`)));
    await until(() => engine.stats().transactions.unresolved === 0, 10_000, 'every half message resolved');
    await until(() => delivered.length >= COUNT, 10_000, 'every message delivered');
    await Promise.all(outcomes.values());
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(COUNT);
    expect(new Set(delivered.map((delivery) => delivery.messageId)).size).toBe(COUNT);
    const resolvedBy = sent.map((s) => engine.getHalfMessage(s.txId)!.resolvedBy);
    expect(resolvedBy.every((by) => by === 'producer' || by === 'checkback')).toBe(true);
    // A fresh group reading the topic from the start sees each message once.
    const audit: string[] = [];
    await engine.subscribe({
      group: 'audit',
      topic: TOPIC,
      startFrom: 'earliest',
      handler: async (d) => void audit.push(d.messageId),
    });
    await until(() => audit.length >= COUNT, 5000, 'the audit read');
    await sleep(SETTLE_MS);
    expect(audit.sort()).toEqual(sent.map((s) => s.messageId).sort());
  });

  it('a checkback rollback racing a producer commit gives one delivery or none, matching the final state', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 50, checkIntervalMs: 50 });
    const COUNT = 40;
    const producerCommits: Array<Promise<unknown>> = [];
    // Even bodies: the producer's commit is queued before the answer. Odd: just after it, in the same group commit.
    engine.registerTransactionChecker(GROUP, async (half) => {
      const commit = (): void =>
        void producerCommits.push(engine.commitHalf(half.txId).catch((error: unknown) => error));
      if (Number(half.body.toString().slice(1)) % 2 === 0) commit();
      else setImmediate(commit);
      return 'rollback';
    });
    const sent = await Promise.all(Array.from({ length: COUNT }, (_, i) => send(engine, `q${i}`)));
    await until(() => engine.stats().transactions.unresolved === 0, 10_000, 'every half message resolved');
    const results = await Promise.all(producerCommits);
    await sleep(SETTLE_MS * 2);
    const committed = sent.filter((s) => engine.getHalfMessage(s.txId)!.state === 'committed').map((s) => s.messageId);
    expect(delivered.map((d) => d.messageId).sort()).toEqual(committed.sort());
    // Every producer commit that lost the race was told so.
    const refused = results.filter((result) => result instanceof TransactionStateError).length;
    expect(refused).toBe(COUNT - committed.length);
    expect(committed.length, 'both orders happened').toBeGreaterThan(0);
    expect(refused, 'both orders happened').toBeGreaterThan(0);
    expect(warnings.length).toBe(committed.length);
  });

  it('survives a restart: half messages stay invisible, and checks resume after reopen', async () => {
    const { dir, cleanup } = tempDataDir();
    try {
      const first = await open({ dataDir: dir, transactionTimeoutMs: 300 });
      const toCheck = await send(first.engine, 'checked');
      const toCommit = await send(first.engine, 'committed-later');
      await first.engine.close();

      const second = await open({ dataDir: dir, transactionTimeoutMs: 300 });
      expect(second.engine.stats().transactions).toEqual({ unresolved: 2, discarded: 0 });
      expect(second.engine.getHalfMessage(toCheck.txId)).toMatchObject({ state: 'unresolved', checkCount: 0 });
      const asked: string[] = [];
      second.engine.registerTransactionChecker(GROUP, async (half) => {
        asked.push(half.txId);
        return half.txId === toCheck.txId ? 'commit' : 'unknown';
      });
      await second.engine.commitHalf(toCommit.txId);
      await until(() => second.delivered.length === 2, 5000, 'both messages after the reopen');
      expect(asked).toEqual([toCheck.txId]);
      expect(second.delivered.map(text).sort()).toEqual(['checked', 'committed-later']);
      expect(second.engine.stats().transactions).toEqual({ unresolved: 0, discarded: 0 });
    } finally {
      await kit.dispose();
      cleanup();
    }
  });

  it('keeps delay and TTL: a delayed half message is not delivered before its time, counted from sending', async () => {
    const { engine, delivered } = await open({ transactionTimeoutMs: 60_000 });
    const sentAt = Date.now();
    const sent = await send(engine, 'later', { delayMs: 400, ttlMs: 60_000 });
    await engine.commitHalf(sent.txId);
    await sleep(SETTLE_MS);
    expect(delivered).toHaveLength(0);
    await until(() => delivered.length === 1, 5000, 'the delayed message');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(400);
  });
});
