import {
  type BrokerEngine,
  type DeadLetter,
  DeadLetterNotFoundError,
  type Delivery,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RESENT_FROM,
  InvalidArgumentError,
} from '@reliable-mq/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';
import { ManualClock } from '../../test/manual-clock';

const STEP_MS = 1000;

/**
 * One engine with a known DLQ, shared by the tests in order:
 *   group g1 on t1: a (k1), b (k2), c (k1, "timeout"), e (k4) die at once; on t2: d (k3) dies after one retry;
 *   group g3 on t1: a, b, c, e die at once; group g2 on t1 never fails.
 * Resent letters succeed. Each message dies STEP_MS after the previous one.
 */
describe('dead-letter operations', () => {
  const kit = new EngineKit();
  const clock = new ManualClock();
  let engine: BrokerEngine;
  const seen: Record<'g1' | 'g2' | 'g3', Delivery[]> = { g1: [], g2: [], g3: [] };
  const ids = new Map<string, string>();
  const diedAt = new Map<string, number>();

  const failUnlessResent = (group: 'g1' | 'g3', reason: (body: string) => string) => async (delivery: Delivery) => {
    seen[group].push(delivery);
    if (delivery.headers[HEADER_RESENT_FROM] !== undefined) return;
    throw Object.assign(new Error(reason(text(delivery))), { nonRetryable: text(delivery) !== 'd' });
  };

  const letterOf = (group: string, body: string): DeadLetter => {
    const found = engine
      .listDeadLetters({ group, messageId: ids.get(body)!, status: 'any' })
      .items.filter((letter) => letter.body.toString() === body);
    expect(found, `${group}/${body}`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    engine = kit.open({ clock, maintenanceIntervalMs: 60_000 });
    engine.createTopic('t1', { queueCount: 2 });
    engine.createTopic('t2', { queueCount: 2 });
    // One member reads both topics of g1: every member of a group must subscribe the same topics.
    await engine.subscribe({
      group: 'g1',
      topic: 't1',
      memberId: 'g1-member',
      handler: failUnlessResent('g1', (body) => (body === 'c' ? 'timeout calling bank for c' : `bad ${body}`)),
    });
    await engine.subscribe({
      group: 'g1',
      topic: 't2',
      memberId: 'g1-member',
      retry: { delayLevels: '1s', maxReconsumeTimes: 1 },
      handler: failUnlessResent('g1', (body) => `flaky ${body}`),
    });
    await engine.subscribe({ group: 'g3', topic: 't1', handler: failUnlessResent('g3', () => 'g3 says no') });
    await engine.subscribe({
      group: 'g2',
      topic: 't1',
      handler: async (delivery) => {
        seen.g2.push(delivery);
      },
    });
    const dlqSize = () => engine.listDeadLetters({ status: 'any', limit: 1000 }).total;
    const plan: Array<[body: string, topic: string, key: string, letters: number]> = [
      ['a', 't1', 'k1', 2],
      ['b', 't1', 'k2', 2],
      ['c', 't1', 'k1', 2],
      ['d', 't2', 'k3', 1],
      ['e', 't1', 'k4', 2],
    ];
    for (const [body, topic, key, letters] of plan) {
      const before = dlqSize();
      const [result] = await engine.publish([{ topic, key, body, headers: { tenant: 'acme' } }]);
      ids.set(body, result!.messageId);
      if (body === 'd') {
        await until(() => engine.stats().scheduledPending === 1, 5000, 'the retry of d');
        clock.advance(STEP_MS);
        engine.runMaintenance();
      }
      await until(() => dlqSize() === before + letters, 5000, `dead letters of ${body}`);
      diedAt.set(body, clock.now());
      clock.advance(STEP_MS);
    }
  });

  afterAll(async () => {
    expect(kit.errors).toEqual([]);
    await kit.dispose();
  });

  describe('listing and searching', () => {
    it('filters by group and topic, with totals', () => {
      expect(engine.listDeadLetters().total).toBe(9);
      expect(engine.listDeadLetters({ group: 'g1' }).total).toBe(5);
      expect(engine.listDeadLetters({ group: 'g3' }).total).toBe(4);
      expect(engine.listDeadLetters({ group: 'g2' }).total).toBe(0);
      const t2 = engine.listDeadLetters({ topic: 't2' });
      expect(t2.total).toBe(1);
      expect(t2.items[0]!.body.toString()).toBe('d');
      expect(t2.items[0]!.group).toBe('g1');
      expect(t2.items[0]!.dlqTopic).toBe('%DLQ%g1');
    });

    it('filters by key', () => {
      const page = engine.listDeadLetters({ group: 'g1', key: 'k1' });
      expect(page.total).toBe(2);
      expect(page.items.map((l) => l.body.toString()).sort()).toEqual(['a', 'c']);
    });

    it('finds a letter by the id of the copy that died or by the original id', () => {
      const byOriginal = engine.listDeadLetters({ messageId: ids.get('d')! });
      expect(byOriginal.total).toBe(1);
      const letter = byOriginal.items[0]!;
      expect(letter.originalMessageId).toBe(ids.get('d'));
      expect(letter.messageId).not.toBe(ids.get('d'));
      expect(letter.reconsumeTimes).toBe(1);
      const byCopy = engine.listDeadLetters({ messageId: letter.messageId });
      expect(byCopy.items.map((l) => l.id)).toEqual([letter.id]);
      // Both groups that gave up on "a" hold their own letter.
      expect(
        engine
          .listDeadLetters({ messageId: ids.get('a')! })
          .items.map((l) => l.group)
          .sort(),
      ).toEqual(['g1', 'g3']);
    });

    it('filters by a time range (from inclusive, to exclusive) and by reason text', () => {
      const range = engine.listDeadLetters({ group: 'g1', from: diedAt.get('b'), to: diedAt.get('d') });
      expect(range.items.map((l) => l.body.toString())).toEqual(['c', 'b']);
      expect(range.total).toBe(2);
      expect(engine.listDeadLetters({ from: diedAt.get('e') }).total).toBe(2);
      expect(engine.listDeadLetters({ to: diedAt.get('a') }).total).toBe(0);
      const reason = engine.listDeadLetters({ reasonContains: 'timeout calling' });
      expect(reason.total).toBe(1);
      expect(reason.items[0]!.reason).toBe('Error: timeout calling bank for c');
      expect(engine.listDeadLetters({ reasonContains: 'says no', key: 'k1' }).total).toBe(2);
    });

    it('pages newest first with a stable total', () => {
      const pages = [0, 2, 4].map((offset) => engine.listDeadLetters({ group: 'g1', limit: 2, offset }));
      expect(pages.map((p) => p.total)).toEqual([5, 5, 5]);
      expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
      expect(pages.flatMap((p) => p.items.map((l) => l.body.toString()))).toEqual(['e', 'd', 'c', 'b', 'a']);
      expect(engine.listDeadLetters({ group: 'g1', limit: 2, offset: 10 }).items).toEqual([]);
    });

    it('rejects bad queries', () => {
      expect(() => engine.listDeadLetters({ limit: 0 })).toThrow(InvalidArgumentError);
      expect(() => engine.listDeadLetters({ limit: 1001 })).toThrow(InvalidArgumentError);
      expect(() => engine.listDeadLetters({ offset: -1 })).toThrow(InvalidArgumentError);
      expect(() => engine.listDeadLetters({ status: 'bogus' as 'dead' })).toThrow(InvalidArgumentError);
    });
  });

  describe('resend', () => {
    it('sends one letter back through its group’s retry topic: only that group handles it again', async () => {
      const letter = letterOf('g1', 'a');
      const before = { g1: seen.g1.length, g2: seen.g2.length, g3: seen.g3.length };
      expect(await engine.resendDeadLetters([letter.id])).toEqual([letter.id]);
      await until(() => seen.g1.length === before.g1 + 1, 5000, 'g1 to handle the resent letter');
      await sleep(60);
      const delivery = seen.g1.at(-1)!;
      expect(text(delivery)).toBe('a');
      expect(delivery.sourceTopic).toBe('%RETRY%g1');
      expect(delivery.topic).toBe('t1');
      expect(delivery.key).toBe('k1');
      expect(delivery.originalMessageId).toBe(ids.get('a'));
      expect(delivery.reconsumeTimes).toBe(0);
      expect(delivery.headers[HEADER_RESENT_FROM]).toBe(String(letter.id));
      expect(delivery.headers.tenant).toBe('acme');
      expect(seen.g2.length).toBe(before.g2);
      expect(seen.g3.length).toBe(before.g3);

      const after = engine.getDeadLetter(letter.id)!;
      expect(after.status).toBe('resent');
      expect(after.statusAt).toBe(clock.now());
      expect(engine.listDeadLetters({ group: 'g1' }).total).toBe(4);
      expect(engine.listDeadLetters({ group: 'g1', status: 'resent' }).items.map((l) => l.id)).toEqual([letter.id]);
      // g3's letter for the same message is untouched.
      expect(letterOf('g3', 'a').status).toBe('dead');
    });

    it('sends many letters at once, including one that died as a retry copy', async () => {
      const letters = [letterOf('g1', 'b'), letterOf('g1', 'd')];
      const before = seen.g1.length;
      const resent = await engine.resendDeadLetters(letters.map((l) => l.id));
      expect(resent.sort((x, y) => x - y)).toEqual(letters.map((l) => l.id).sort((x, y) => x - y));
      await until(() => seen.g1.length === before + 2, 5000, 'both handled again');
      const again = seen.g1.slice(before);
      expect(again.map(text).sort()).toEqual(['b', 'd']);
      expect(again.find((d) => text(d) === 'd')!.originalMessageId).toBe(ids.get('d'));
      expect(again.find((d) => text(d) === 'd')!.topic).toBe('t2');
      for (const letter of letters) expect(engine.getDeadLetter(letter.id)!.status).toBe('resent');
    });

    it('resends with an edited payload', async () => {
      const letter = letterOf('g1', 'e');
      const before = seen.g1.length;
      await engine.resendDeadLetters([letter.id], { body: '{"fixed":true}' });
      await until(() => seen.g1.length === before + 1, 5000, 'the edited resend');
      const delivery = seen.g1.at(-1)!;
      expect(text(delivery)).toBe('{"fixed":true}');
      expect(delivery.originalMessageId).toBe(ids.get('e'));
      expect(delivery.headers.tenant).toBe('acme');
      // The letter keeps the payload it died with, for audit.
      expect(engine.getDeadLetter(letter.id)!.body.toString()).toBe('e');
    });

    it('resends with edited headers, keeping the engine’s own headers', async () => {
      const letter = letterOf('g3', 'b');
      const before = { g1: seen.g1.length, g3: seen.g3.length };
      await engine.resendDeadLetters([letter.id], { headers: { tenant: 'globex', reviewed: 'yes' } });
      await until(() => seen.g3.length === before.g3 + 1, 5000, 'the resend with new headers');
      await sleep(60);
      const delivery = seen.g3.at(-1)!;
      expect(text(delivery)).toBe('b');
      expect(delivery.headers.tenant).toBe('globex');
      expect(delivery.headers.reviewed).toBe('yes');
      expect(delivery.headers[HEADER_ORIGIN_TOPIC]).toBe('t1');
      expect(delivery.headers[HEADER_ORIGINAL_ID]).toBe(ids.get('b'));
      expect(delivery.headers[HEADER_RESENT_FROM]).toBe(String(letter.id));
      expect(seen.g1.length).toBe(before.g1);
    });

    it('rejects headers that are not strings', async () => {
      const letter = letterOf('g3', 'c');
      await expect(engine.resendDeadLetters([letter.id], { headers: { n: 1 as unknown as string } })).rejects.toThrow(
        InvalidArgumentError,
      );
      expect(engine.getDeadLetter(letter.id)!.status).toBe('dead');
    });
  });

  describe('discard', () => {
    it('needs a reason', async () => {
      const letter = letterOf('g3', 'c');
      await expect(engine.discardDeadLetters([letter.id], '')).rejects.toThrow(InvalidArgumentError);
      await expect(engine.discardDeadLetters([letter.id], '   ')).rejects.toThrow(InvalidArgumentError);
      expect(engine.getDeadLetter(letter.id)!.status).toBe('dead');
    });

    it('marks letters discarded with the reason recorded, and keeps them listed for audit', async () => {
      const letter = letterOf('g3', 'c');
      expect(await engine.discardDeadLetters([letter.id], 'duplicate of order 42')).toEqual([letter.id]);
      const after = engine.getDeadLetter(letter.id)!;
      expect(after.status).toBe('discarded');
      expect(after.statusReason).toBe('duplicate of order 42');
      expect(after.statusAt).toBe(clock.now());
      expect(engine.listDeadLetters({ status: 'discarded' }).items.map((l) => l.id)).toEqual([letter.id]);
      expect(engine.listDeadLetters({ group: 'g3' }).items.map((l) => l.id)).not.toContain(letter.id);
    });
  });

  describe('ids that cannot be acted on', () => {
    it('refuses letters already resent or discarded, and unknown ids, with DeadLetterNotFoundError', async () => {
      const resent = letterOf('g1', 'a');
      const discarded = letterOf('g3', 'c');
      expect(resent.status).toBe('resent');
      expect(discarded.status).toBe('discarded');
      await expect(engine.resendDeadLetters([resent.id])).rejects.toThrow(DeadLetterNotFoundError);
      await expect(engine.resendDeadLetters([discarded.id])).rejects.toThrow(DeadLetterNotFoundError);
      await expect(engine.discardDeadLetters([resent.id], 'again')).rejects.toThrow(DeadLetterNotFoundError);
      await expect(engine.discardDeadLetters([discarded.id], 'again')).rejects.toThrow(DeadLetterNotFoundError);
      await expect(engine.resendDeadLetters([987_654])).rejects.toThrow(DeadLetterNotFoundError);
    });

    it('acts on all the ids or none', async () => {
      const alive = letterOf('g3', 'e');
      const gone = letterOf('g1', 'a');
      const before = seen.g3.length;
      await expect(engine.resendDeadLetters([alive.id, gone.id])).rejects.toThrow(DeadLetterNotFoundError);
      await expect(engine.discardDeadLetters([alive.id, gone.id], 'cleanup')).rejects.toThrow(DeadLetterNotFoundError);
      await sleep(60);
      expect(engine.getDeadLetter(alive.id)!.status).toBe('dead');
      expect(seen.g3.length).toBe(before);
    });

    it('rejects malformed ids with InvalidArgumentError', async () => {
      const bad: unknown[] = [[], [1.5], ['7'], [Number.NaN], 'x', null];
      for (const ids of bad) {
        await expect(engine.resendDeadLetters(ids as number[]), JSON.stringify(ids)).rejects.toThrow(
          InvalidArgumentError,
        );
        await expect(engine.discardDeadLetters(ids as number[], 'r'), JSON.stringify(ids)).rejects.toThrow(
          InvalidArgumentError,
        );
      }
    });
  });
});
