import {
  type BrokerEngine,
  EngineClosedError,
  type EngineOptions,
  type HalfSendResult,
  InvalidArgumentError,
  type TransactionOutcome,
  TransactionNotFoundError,
} from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, tempDataDir, until } from '../../test/engine-test-kit';
import { gate, SkewedClock } from '../../test/manual-clock';

const TOPIC = 'payments';
const GROUP = 'order-service';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Short checkback timing with one check: a half message left unanswered is discarded about 100 ms after sending. */
const DISCARDING = { transactionTimeoutMs: 100, checkIntervalMs: 100, transactionCheckMax: 1 } as const;
/** Checkbacks a day away: half messages sent under it stay unresolved for the whole test. */
const PATIENT = { transactionTimeoutMs: DAY, checkIntervalMs: DAY } as const;

describe('pruning of resolved half-message records', () => {
  let kit: EngineKit;
  let warnings: string[];
  let clock: SkewedClock;
  let data: { dir: string; cleanup: () => void };

  beforeEach(() => {
    kit = new EngineKit();
    warnings = [];
    clock = new SkewedClock();
    data = tempDataDir();
  });
  afterEach(async () => {
    await kit.dispose();
    data.cleanup();
    expect(kit.errors).toEqual([]);
  });

  /** Opens on the test's data directory and clock; the same directory may be reopened to prove restart safety. */
  function open(options: Partial<EngineOptions> = {}): BrokerEngine {
    const engine = kit.open({
      dataDir: data.dir,
      clock,
      halfMessageRetentionMs: HOUR,
      retentionChunkSize: 4,
      retentionIntervalMs: DAY,
      onWarning: (message) => warnings.push(message),
      ...options,
    });
    if (!engine.getTopic(TOPIC)) engine.createTopic(TOPIC, { queueCount: 2 });
    return engine;
  }

  const send = (engine: BrokerEngine, body: string): Promise<HalfSendResult> =>
    engine.sendHalf({ topic: TOPIC, key: `k-${body}`, body }, { producerGroup: GROUP });

  async function sendMany(engine: BrokerEngine, prefix: string, count: number): Promise<HalfSendResult[]> {
    const sent: HalfSendResult[] = [];
    for (let i = 0; i < count; i++) sent.push(await send(engine, `${prefix}-${i}`));
    return sent;
  }

  /** Messages ever made visible on the topic (offsets handed out), whatever retention did to them since. */
  const published = (engine: BrokerEngine): number =>
    engine
      .stats()
      .topics.find((topic) => topic.topic === TOPIC)!
      .queues.reduce((sum, queue) => sum + queue.maxOffset, 0);

  const stateOf = (engine: BrokerEngine, sent: HalfSendResult): string | undefined =>
    engine.getHalfMessage(sent.txId)?.state;

  /** Sends `count` half messages that nobody answers, and waits until the single checkback discards them. */
  async function discardedBatch(engine: BrokerEngine, prefix: string, count: number): Promise<HalfSendResult[]> {
    const before = engine.stats().transactions.discarded;
    engine.registerTransactionChecker(GROUP, async () => 'unknown');
    const sent = await sendMany(engine, prefix, count);
    await until(() => engine.stats().transactions.discarded === before + count, 5000, `${prefix} discarded`);
    return sent;
  }

  it('deletes committed, rolled back and discarded records older than the retention, in chunks, keeping young and unresolved ones, across restarts', async () => {
    // Discarded long ago: nine records on the discarded list.
    let engine = open(DISCARDING);
    const oldDiscarded = await discardedBatch(engine, 'old-discarded', 9);
    await engine.close();

    // Resolved long ago: more records per state than one chunk (4). Unresolved long ago: still awaiting checkback.
    engine = open(PATIENT);
    const oldCommitted = await sendMany(engine, 'old-committed', 11);
    for (const sent of oldCommitted) await engine.commitHalf(sent.txId);
    const oldRolledBack = await sendMany(engine, 'old-rolled-back', 6);
    for (const sent of oldRolledBack) await engine.rollbackHalf(sent.txId, 'payment declined');
    const oldUnresolved = await sendMany(engine, 'old-unresolved', 3);
    clock.advance(2 * HOUR);
    await engine.close();

    // Resolved just now.
    engine = open(DISCARDING);
    const youngDiscarded = await discardedBatch(engine, 'young-discarded', 2);
    const youngCommitted = await sendMany(engine, 'young-committed', 2);
    for (const sent of youngCommitted) await engine.commitHalf(sent.txId);
    const [youngRolledBack] = await sendMany(engine, 'young-rolled-back', 1);
    await engine.rollbackHalf(youngRolledBack!.txId);
    // An old discarded record that an operator commits now is a young committed record.
    const [rescued, ...abandoned] = oldDiscarded;
    expect(await engine.commitDiscardedHalves([rescued!.txId])).toEqual([rescued!.txId]);
    await engine.close();

    engine = open(PATIENT);
    const visibleBefore = published(engine);
    expect(visibleBefore).toBe(11 + 2 + 1);
    expect(engine.listHalfMessages({ state: 'any' }).total).toBe(9 + 11 + 6 + 3 + 2 + 2 + 1);
    warnings.length = 0;
    expect(await engine.runRetention()).toBe(0);

    for (const sent of [...oldCommitted, ...oldRolledBack, ...abandoned]) {
      expect(engine.getHalfMessage(sent.txId), sent.messageId).toBeUndefined();
    }
    for (const sent of oldUnresolved) expect(stateOf(engine, sent)).toBe('unresolved');
    for (const sent of youngDiscarded) expect(stateOf(engine, sent)).toBe('discarded');
    for (const sent of youngCommitted) expect(stateOf(engine, sent)).toBe('committed');
    expect(stateOf(engine, youngRolledBack!)).toBe('rolled_back');
    expect(engine.getHalfMessage(rescued!.txId)).toMatchObject({ state: 'committed', resolvedBy: 'operator' });

    // What the console lists stays right: the unresolved count and the discarded list are the young ones only.
    expect(engine.stats().transactions).toEqual({ unresolved: 3, discarded: 2 });
    const discardedList = engine.listHalfMessages();
    expect(discardedList.total).toBe(2);
    expect(discardedList.items.map((half) => half.txId).sort()).toEqual(youngDiscarded.map((s) => s.txId).sort());
    expect(engine.listHalfMessages({ state: 'any' }).total).toBe(3 + 2 + 2 + 1 + 1);

    // Dropping undecided discarded records is said once per producer group, with the ids.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Deleted 8 discarded half message record\(s\) of producer group "order-service"/);
    expect(warnings[0]).toContain(abandoned[0]!.txId);
    expect(warnings[0]).toMatch(/halfMessageRetentionMs \(3600000 ms\)/);
    // Deleting records never touches messages already made visible.
    expect(published(engine)).toBe(visibleBefore);

    // Restart: what was pruned stays pruned, what was kept is still there, and a second pass finds nothing new.
    await engine.close();
    engine = open(PATIENT);
    expect(engine.listHalfMessages({ state: 'any' }).total).toBe(9);
    await engine.runRetention();
    expect(engine.listHalfMessages({ state: 'any' }).total).toBe(9);

    // Once the young ones are old too, only the unresolved records are left.
    clock.advance(2 * HOUR);
    await engine.runRetention();
    const left = engine.listHalfMessages({ state: 'any' });
    expect(left.items.map((half) => half.txId).sort()).toEqual(oldUnresolved.map((s) => s.txId).sort());
    expect(engine.stats().transactions).toEqual({ unresolved: 3, discarded: 0 });
    // The unresolved ones are still live transactions.
    await engine.commitHalf(oldUnresolved[0]!.txId);
    expect(published(engine)).toBe(visibleBefore + 1);
  });

  it('answers a late commit or rollback of a pruned id as unknown, and delivers nothing again', async () => {
    const engine = open(PATIENT);
    const [committed, rolledBack, discarded] = await sendMany(engine, 'late', 3);
    await engine.commitHalf(committed!.txId);
    await engine.rollbackHalf(rolledBack!.txId);
    await engine.close();
    const discarding = open(DISCARDING);
    // The third one is still unresolved; with one check and no answer it is discarded.
    discarding.registerTransactionChecker(GROUP, async () => 'unknown');
    clock.advance(DAY);
    await until(() => stateOf(discarding, discarded!) === 'discarded', 5000, 'the discard');
    clock.advance(2 * HOUR);
    await discarding.runRetention();
    expect(discarding.listHalfMessages({ state: 'any' }).total).toBe(0);
    const visible = published(discarding);
    expect(visible).toBe(1);

    for (const sent of [committed!, rolledBack!, discarded!]) {
      const commit = discarding.commitHalf(sent.txId);
      await expect(commit).rejects.toBeInstanceOf(TransactionNotFoundError);
      await expect(commit).rejects.toThrow(
        /records of resolved half messages are deleted after halfMessageRetentionMs/,
      );
      await expect(discarding.rollbackHalf(sent.txId)).rejects.toBeInstanceOf(TransactionNotFoundError);
    }
    await expect(discarding.commitDiscardedHalves([discarded!.txId])).rejects.toBeInstanceOf(TransactionNotFoundError);
    await expect(discarding.discardDiscardedHalves([discarded!.txId], 'refunded')).rejects.toBeInstanceOf(
      TransactionNotFoundError,
    );
    expect(published(discarding)).toBe(visible);
    expect(discarding.listHalfMessages({ state: 'any' }).total).toBe(0);
    // The committed message is still stored, so its id is still refused for a new half message.
    await expect(
      discarding.sendHalf({ messageId: committed!.messageId, topic: TOPIC, body: 'again' }, { producerGroup: GROUP }),
    ).rejects.toThrow(/already belongs to a published message/);
  });

  it('ignores, with a warning, a checkback answer that arrives after its discarded record was pruned', async () => {
    const engine = open({ ...DISCARDING, halfMessageRetentionMs: 1_000 });
    const answer = gate();
    let asked = 0;
    engine.registerTransactionChecker(GROUP, async (): Promise<TransactionOutcome> => {
      asked++;
      await answer.promise;
      return 'commit';
    });
    const sent = await send(engine, 'slow');
    // The checker does not answer within checkIntervalMs: the check counts as unknown, the last one, so: discarded.
    await until(() => stateOf(engine, sent) === 'discarded', 5000, 'the discard');
    clock.advance(2_000);
    await engine.runRetention();
    expect(engine.getHalfMessage(sent.txId)).toBeUndefined();
    warnings.length = 0;
    answer.open();
    await until(() => warnings.length === 1, 5000, 'the warning about the late answer');
    expect(asked).toBe(1);
    expect(warnings[0]).toMatch(/answered commit for half message .*, but its record was already deleted/);
    expect(published(engine)).toBe(0);
  });

  it('keeps every record with halfMessageRetentionMs: null', async () => {
    const engine = open({ ...PATIENT, halfMessageRetentionMs: null });
    const sent = await sendMany(engine, 'kept', 5);
    for (const s of sent) await engine.commitHalf(s.txId);
    clock.advance(365 * DAY);
    await engine.runRetention();
    expect(engine.listHalfMessages({ state: 'committed' }).total).toBe(5);
  });

  it('defaults to 7 days', async () => {
    const engine = kit.open({ ...PATIENT, clock, onWarning: (message) => warnings.push(message) });
    expect(engine.options.transactions.halfMessageRetentionMs).toBe(7 * DAY);
    engine.createTopic(TOPIC);
    const [sent] = await sendMany(engine, 'week', 1);
    await engine.commitHalf(sent!.txId);
    clock.advance(7 * DAY - 1_000);
    await engine.runRetention();
    expect(stateOf(engine, sent!)).toBe('committed');
    clock.advance(2_000);
    await engine.runRetention();
    expect(engine.getHalfMessage(sent!.txId)).toBeUndefined();
  });

  it('refuses bad halfMessageRetentionMs values when the engine opens, naming the limit', () => {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '7d', true, {}]) {
      let error: unknown;
      try {
        kit.open({ dataDir: data.dir, halfMessageRetentionMs: value as number });
      } catch (caught) {
        error = caught;
      }
      expect(error, String(value)).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(
        /^halfMessageRetentionMs must be an integer number of milliseconds from 1 to 9007199254740991, or null to keep resolved half messages; got .+\.$/,
      );
    }
    expect(() => kit.open({ dataDir: data.dir, halfMessageRetentionMs: '7d' as never })).toThrow(/got "7d"\./);
  });

  it('stops a pass at close after its chunk in progress; the next pass after a reopen finishes the work', async () => {
    let engine = open({ ...PATIENT, retentionChunkSize: 2 });
    const sent = await sendMany(engine, 'many', 40);
    for (const s of sent) await engine.commitHalf(s.txId);
    clock.advance(2 * HOUR);
    const pass = engine.runRetention().then(
      (count) => count,
      (error: unknown) => error,
    );
    await engine.close();
    const outcome = await pass;
    if (typeof outcome !== 'number') expect(outcome).toBeInstanceOf(EngineClosedError);

    engine = open({ ...PATIENT, retentionChunkSize: 2 });
    // Each chunk is one commit: whatever the close interrupted, whole chunks of two went, never part of one.
    expect(engine.listHalfMessages({ state: 'committed' }).total % 2).toBe(0);
    await engine.runRetention();
    expect(engine.listHalfMessages({ state: 'any' }).total).toBe(0);
    expect(published(engine)).toBe(40);
  });
});
