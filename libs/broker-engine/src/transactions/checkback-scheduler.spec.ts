import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerUnderTest } from '../../test/half-message-ledger.contract';
import { sqliteLedgerUnderTest } from '../../test/sqlite-ledger-fixture';
import { CheckbackScheduler, type CheckbackSchedulerOptions } from './checkback-scheduler';
import type { NewHalfRecord } from './half-message-ledger';
import { HalfMessageResolutions } from './half-message-resolutions';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = 3_000): Promise<void> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function record(nextCheckAt: number): NewHalfRecord {
  return {
    txId: randomUUID(),
    messageId: randomUUID(),
    producerGroup: 'payment-service',
    topic: 'payment.confirmed',
    key: null,
    tags: [],
    headers: {},
    body: Buffer.from('{}'),
    sentAt: Date.now(),
    deliverAt: null,
    ttlMs: null,
    nextCheckAt,
  };
}

describe('CheckbackScheduler over a ledger', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  function start(
    overrides: Partial<CheckbackSchedulerOptions> = {},
  ): LedgerUnderTest & { scheduler: CheckbackScheduler; warnings: string[] } {
    const subject = sqliteLedgerUnderTest();
    const warnings: string[] = [];
    const scheduler = new CheckbackScheduler({
      ledger: subject.ledger,
      resolutions: new HalfMessageResolutions(subject.ledger, { now: () => Date.now(), maxIds: 100 }),
      now: () => Date.now(),
      checkIntervalMs: 100,
      transactionCheckMax: 3,
      batchSize: 10,
      onWarning: (message) => warnings.push(message),
      onError: (error) => warnings.push(`error: ${error.message}`),
      ...overrides,
    });
    scheduler.start();
    stops.push(async () => {
      await scheduler.stop();
      await subject.cleanup();
    });
    return { ...subject, scheduler, warnings };
  }

  it('with pollMs, finds half messages another writer stored without telling it', async () => {
    const polling = start({ pollMs: 30 });
    polling.scheduler.register('payment-service', async () => 'commit');
    const { half } = await polling.ledger.insert(record(Date.now()));
    await until(async () => (await polling.ledger.get(half.txId))?.state === 'committed', 'the polled check');
    expect(await polling.delivered()).toEqual([half.messageId]);
  });

  it('without pollMs, waits for the due times it is told of', async () => {
    const told = start();
    told.scheduler.register('payment-service', async () => 'commit');
    const { half } = await told.ledger.insert(record(Date.now()));
    await sleep(300);
    expect((await told.ledger.get(half.txId))?.state).toBe('unresolved');
    told.scheduler.note(half.nextCheckAt);
    await until(async () => (await told.ledger.get(half.txId))?.state === 'committed', 'the check it was told of');
  });

  it('counts a checker slower than checkIntervalMs as unknown, and still applies its late commit', async () => {
    const slow = start({ transactionCheckMax: 10 });
    let asked = 0;
    slow.scheduler.register('payment-service', async () => {
      asked++;
      await sleep(250);
      return 'commit';
    });
    const { half } = await slow.ledger.insert(record(Date.now()));
    slow.scheduler.note(half.nextCheckAt);
    await until(async () => (await slow.ledger.get(half.txId))?.state === 'committed', 'the late commit');
    // The first call timed out after 100 ms (counted unknown), so the next check asked again; the first late
    // commit decided, and the later ones found it committed.
    expect(asked).toBeGreaterThanOrEqual(2);
    expect((await slow.ledger.get(half.txId))?.resolvedBy).toBe('checkback');
    await sleep(300);
    expect(await slow.delivered()).toEqual([half.messageId]);
    expect(slow.warnings).toEqual([]);
  });

  it('asks a checker once while the unknown of its timeout is still being applied', async () => {
    const subject = sqliteLedgerUnderTest();
    // A ledger slow to apply changes, as a busy database is: the discard after the timeout takes 200 ms.
    const slowLedger = {
      ...subject.ledger,
      insert: subject.ledger.insert.bind(subject.ledger),
      get: subject.ledger.get.bind(subject.ledger),
      list: subject.ledger.list.bind(subject.ledger),
      claimDue: subject.ledger.claimDue.bind(subject.ledger),
      nextCheckAt: subject.ledger.nextCheckAt.bind(subject.ledger),
      markWarned: subject.ledger.markWarned.bind(subject.ledger),
      pruneChunk: subject.ledger.pruneChunk.bind(subject.ledger),
      transition: async (...args: Parameters<typeof subject.ledger.transition>) => {
        await sleep(200);
        return subject.ledger.transition(...args);
      },
    };
    const scheduler = new CheckbackScheduler({
      ledger: slowLedger,
      resolutions: new HalfMessageResolutions(slowLedger, { now: () => Date.now(), maxIds: 100 }),
      now: () => Date.now(),
      checkIntervalMs: 40,
      transactionCheckMax: 1,
      batchSize: 10,
      pollMs: 10,
      onWarning: () => undefined,
      onError: () => undefined,
    });
    stops.push(async () => {
      await scheduler.stop();
      await subject.cleanup();
    });
    let asked = 0;
    scheduler.register('payment-service', () => {
      asked++;
      return new Promise(() => undefined);
    });
    scheduler.start();
    const { half } = await subject.ledger.insert(record(Date.now()));
    await until(async () => (await subject.ledger.get(half.txId))?.state === 'discarded', 'the discard');
    expect(asked).toBe(1);
    expect(await subject.ledger.get(half.txId)).toMatchObject({ checkCount: 1 });
  });

  it('moves a half message nobody answers to the discarded list after transactionCheckMax checks', async () => {
    const silent = start({ checkIntervalMs: 20 });
    silent.scheduler.register('payment-service', async () => 'unknown');
    const { half } = await silent.ledger.insert(record(Date.now()));
    silent.scheduler.note(half.nextCheckAt);
    await until(async () => (await silent.ledger.get(half.txId))?.state === 'discarded', 'the discard');
    expect(await silent.ledger.get(half.txId)).toMatchObject({
      checkCount: 3,
      reason: 'No answer after 3 checks; last check: the checker answered unknown.',
    });
    expect(silent.warnings).toEqual([]);
  });

  it('runs retention from the check loop at most every retention.everyMs', async () => {
    const runs: number[] = [];
    const retaining = start({
      pollMs: 10,
      retention: { everyMs: 100, run: async () => void runs.push(Date.now()) },
    });
    const started = Date.now();
    await until(async () => runs.length >= 3, 'three retention passes');
    // The first waits one interval after the start; the passes between polls (every 10 ms) keep the interval.
    expect(runs[0]! - started).toBeGreaterThanOrEqual(95);
    for (let i = 1; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!).toBeGreaterThanOrEqual(95);
    expect(retaining.warnings).toEqual([]);
  });
});
