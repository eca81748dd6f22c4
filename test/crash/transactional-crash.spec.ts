import Database from 'better-sqlite3';
import { join } from 'node:path';
import { DATABASE_FILE, type HalfMessage } from '@reliable-mq/engine';
import { afterAll, describe, expect, it } from 'vitest';
import { LineChild, type ChildEnd } from '../support/child-lines';
import {
  createDataRoot,
  inspectEngine,
  killCountFromEnv,
  releaseDataRoot,
  waitForGroupCaughtUp,
} from '../support/crash-kit';
import { randomIntBetween, seedFromEnv, seededRandom } from '../support/seeded-random';
import { spawnTs } from '../support/spawn-ts';
import {
  LOCAL_DB_FILE,
  TX_PRODUCER_GROUP,
  TX_TOPIC,
  planOf,
  type ChildLine,
  type PaymentPayload,
} from './transactional-crash.protocol';

/**
 * Transactional messages under SIGKILL. A producer process (a Nest app) runs payments through `sendInTransaction`;
 * each local transaction writes a row to the producer's own SQLite table. The process is SIGKILLed right after the
 * local commit of a randomly chosen payment and before the broker hears the commit; its other producing loop is at
 * whatever point it reached. The next producer process starts with the same broker data and local table, and its
 * @TransactionChecker, answering from that table, settles what the killed one left. After the last kill a settle run
 * drains every half message, and a fresh group reads the topic from the start.
 *
 * Verdict: every locally committed payment is delivered exactly once, no other payment is delivered, and no half
 * message is left unresolved or discarded.
 *
 * TX_CRASH_KILLS sets the number of kills (default 25, or 20 when CI=true); TX_CRASH_SEED replays a kill schedule.
 */

const CHILD = 'test/crash/transactional-crash.child.ts';
const KILLS = killCountFromEnv('TX_CRASH_KILLS', { local: 25, ci: 20 });
/** The kill lands after the local commit of one of the first payments of a run. */
const KILL_AT_MAX = 12;
const KILL_PHASE_LIMIT_MS = 110_000;
const TEST_TIMEOUT_MS = 170_000;
const CHILD_LIMIT_MS = 30_000;
const AUDIT_LIMIT_MS = 20_000;
const AUDIT_GROUP = 'tx-crash-audit';

type ChildResult = ChildEnd<ChildLine>;

const children = new Set<LineChild<{ kind: string }>>();

/** Runs one child; in crash mode it is SIGKILLed (by its own handle) as soon as it reports its kill point. */
async function runChild(
  dirs: { broker: string; local: string },
  run: number,
  killAt: number | null,
): Promise<ChildResult> {
  const args = [dirs.broker, dirs.local, String(run), ...(killAt === null ? ['settle'] : ['crash', String(killAt)])];
  const child = new LineChild<ChildLine>(
    `run ${run}`,
    spawnTs(CHILD, args, { stdio: ['ignore', 'pipe', 'pipe'] }),
    children,
  );
  return child.endWithin(CHILD_LIMIT_MS, (line) => {
    if (line.kind === 'kill-point') child.kill();
  });
}

function describeChild(run: number, result: ChildResult): string {
  const problems = result.lines
    .filter((line) => line.kind === 'error' || (line.kind === 'log' && line.level === 'error'))
    .map((line) => (line as { message: string }).message);
  return [
    `run ${run}: exit code ${result.code}, signal ${result.signal}${result.overran ? ', overran its limit' : ''}`,
    problems.length > 0 ? `errors:\n${problems.join('\n')}` : '',
    result.stderr ? `stderr:\n${result.stderr}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** State of one half message straight from the broker's file, without opening an engine (which would run checks). */
function halfStateOf(brokerDir: string, messageId: string): string | undefined {
  const db = new Database(join(brokerDir, DATABASE_FILE));
  try {
    return (
      db.prepare('SELECT state FROM half_messages WHERE message_id = ?').get(messageId) as { state: string } | undefined
    )?.state;
  } finally {
    db.close();
  }
}

function localPayments(localDir: string): Map<string, string> {
  // Not read-only: the first connection after a kill must be able to recover the WAL.
  const db = new Database(join(localDir, LOCAL_DB_FILE));
  try {
    const rows = db.prepare('SELECT order_id, message_id FROM payments').all() as Array<{
      order_id: string;
      message_id: string;
    }>;
    return new Map(rows.map((row) => [row.order_id, row.message_id]));
  } finally {
    db.close();
  }
}

interface Audit {
  halves: HalfMessage[];
  delivered: Array<{ messageId: string; orderId: string }>;
  stats: { unresolved: number; discarded: number };
}

/** Opens the broker once no child runs, lists every half message, and reads the topic with a fresh group. */
function audit(brokerDir: string): Promise<Audit> {
  return inspectEngine({ dataDir: brokerDir, flush: 'sync', minFreeDiskBytes: 0 }, async (engine) => {
    const stats = engine.stats().transactions;
    const halves: HalfMessage[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = engine.listHalfMessages({ state: 'any', limit: 1000, offset });
      halves.push(...page.items);
      if (halves.length >= page.total) break;
    }
    const delivered: Audit['delivered'] = [];
    await engine.subscribe({
      group: AUDIT_GROUP,
      topic: TX_TOPIC,
      startFrom: 'earliest',
      prefetch: 512,
      handler: async (delivery) => {
        const payload = JSON.parse(delivery.body.toString('utf8')) as PaymentPayload;
        delivered.push({ messageId: delivery.messageId, orderId: payload.orderId });
      },
    });
    await waitForGroupCaughtUp(engine, AUDIT_GROUP, AUDIT_LIMIT_MS, 'the audit could not read the topic');
    return { halves, delivered, stats };
  });
}

describe('transactional messages under SIGKILL', () => {
  const dataRoot = createDataRoot('rmq-tx-crash-');

  afterAll(() => {
    for (const child of children) child.kill();
    releaseDataRoot(dataRoot, process.env.CRASH_KEEP_DATA === '1', 'transactional crash data');
  });

  it(
    `delivers every locally committed transaction exactly once and no other, with the producer killed between local commit and commit (${KILLS} kills)`,
    async () => {
      const seed = seedFromEnv('TX_CRASH_SEED');
      const random = seededRandom(seed);
      const dirs = { broker: join(dataRoot, 'broker'), local: join(dataRoot, 'producer') };
      const started = Date.now();
      const lines: ChildLine[] = [];
      const killedAt: string[] = [];
      const violations: string[] = [];
      let run = 0;

      while (killedAt.length < KILLS && Date.now() - started < KILL_PHASE_LIMIT_MS) {
        run++;
        // Only payments whose local transaction commits reach the kill point.
        let killAt: number;
        do killAt = randomIntBetween(random, 1, KILL_AT_MAX);
        while (planOf(killAt) !== 'commit' && planOf(killAt) !== 'commit-then-unknown');
        const result = await runChild(dirs, run, killAt);
        lines.push(...result.lines);
        const killPoint = result.lines.find((line) => line.kind === 'kill-point');
        expect(
          result.signal === 'SIGKILL' && !result.overran && killPoint !== undefined,
          describeChild(run, result),
        ).toBe(true);
        expect(result.stderr, describeChild(run, result)).toBe('');
        expect(describeChild(run, result)).not.toMatch(/errors:/);
        const orderId = (killPoint as { orderId: string }).orderId;
        killedAt.push(orderId);
        // The kill landed where intended: the local row is on disk, and the broker never heard the commit.
        const messageId = localPayments(dirs.local).get(orderId);
        if (!messageId) violations.push(`run ${run}: ${orderId} reported its local commit but has no local row`);
        else if (halfStateOf(dirs.broker, messageId) !== 'unresolved') {
          violations.push(
            `run ${run}: ${orderId} was killed before its commit, yet its half message is ${halfStateOf(dirs.broker, messageId)}`,
          );
        }
      }
      expect(violations, `seed ${seed}`).toEqual([]);

      run++;
      const settle = await runChild(dirs, run, null);
      lines.push(...settle.lines);
      expect(settle.code, describeChild(run, settle)).toBe(0);
      expect(settle.stderr, describeChild(run, settle)).toBe('');
      expect(describeChild(run, settle)).not.toMatch(/errors:/);
      expect(settle.lines.at(-1)).toEqual({ kind: 'settled', unresolved: 0, discarded: 0 });

      const local = localPayments(dirs.local);
      const { halves, delivered, stats } = await audit(dirs.broker);
      const orderOf = (half: HalfMessage): string => (JSON.parse(half.body.toString('utf8')) as PaymentPayload).orderId;

      // Exactly once: no message and no order twice, and the delivered orders are exactly the locally committed ones.
      const deliveredOrders = new Map<string, number>();
      for (const { orderId } of delivered) deliveredOrders.set(orderId, (deliveredOrders.get(orderId) ?? 0) + 1);
      const twice = [...deliveredOrders].filter(([, count]) => count > 1).map(([orderId]) => orderId);
      if (twice.length > 0) violations.push(`delivered more than once: ${twice.join(', ')}`);
      if (new Set(delivered.map((entry) => entry.messageId)).size !== delivered.length)
        violations.push('a message id was delivered twice');
      const missing = [...local.keys()].filter((orderId) => !deliveredOrders.has(orderId));
      if (missing.length > 0) violations.push(`locally committed but never delivered: ${missing.join(', ')}`);
      const unwanted = [...deliveredOrders.keys()].filter((orderId) => !local.has(orderId));
      if (unwanted.length > 0)
        violations.push(`delivered without a local commit (rolled back): ${unwanted.join(', ')}`);
      for (const { messageId, orderId } of delivered) {
        if (local.has(orderId) && local.get(orderId) !== messageId)
          violations.push(`${orderId} was delivered as ${messageId}, committed as ${local.get(orderId)}`);
      }
      // Every half message is resolved the way local state says.
      if (stats.unresolved !== 0 || stats.discarded !== 0)
        violations.push(`half messages left: ${JSON.stringify(stats)}`);
      for (const half of halves) {
        const expected = local.has(orderOf(half)) ? 'committed' : 'rolled_back';
        if (half.state !== expected)
          violations.push(`half message of ${orderOf(half)} is ${half.state}, expected ${expected}`);
      }
      const byOrder = new Map(halves.map((half) => [orderOf(half), half]));
      for (const orderId of killedAt) {
        const half = byOrder.get(orderId);
        if (half?.state !== 'committed' || half.resolvedBy !== 'checkback') {
          violations.push(
            `${orderId}, killed after its local commit, was ${half?.state} by ${half?.resolvedBy}; expected committed by checkback`,
          );
        }
      }
      // What the children reported agrees with the local table.
      const begun = lines.filter((line) => line.kind === 'local-begin') as Array<
        Extract<ChildLine, { kind: 'local-begin' }>
      >;
      for (const line of lines) {
        if (line.kind === 'local-committed' && !local.has(line.orderId))
          violations.push(`${line.orderId} reported a local commit that is not on disk`);
        if (line.kind === 'checked' && line.answer === 'rollback' && local.has(line.orderId)) {
          violations.push(`the checker answered rollback for ${line.orderId}, which is committed locally`);
        }
      }

      const resolvedBy = (state: string, by: string): number =>
        halves.filter((half) => half.state === state && half.resolvedBy === by).length;
      const plans = (plan: string): number => begun.filter((line) => line.plan === plan).length;
      console.log(
        [
          `transactional crash test (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s):`,
          `  kills ${killedAt.length} (each after a local commit, before the commit was sent) in ${run} runs`,
          `  half messages ${halves.length}; local transactions begun ${begun.length}: ${plans('commit')} commit, ${plans('commit-then-unknown')} commit then unknown, ${plans('rollback')} rollback, ${plans('throw')} throw`,
          `  locally committed ${local.size}; delivered ${delivered.length} (distinct orders ${deliveredOrders.size})`,
          `  committed by the producer ${resolvedBy('committed', 'producer')}, by checkback ${resolvedBy('committed', 'checkback')}; rolled back by the producer ${resolvedBy('rolled_back', 'producer')}, by checkback ${resolvedBy('rolled_back', 'checkback')}`,
          `  checkbacks answered ${lines.filter((line) => line.kind === 'checked').length}; discarded ${stats.discarded}; violations ${violations.length}`,
        ].join('\n'),
      );

      expect(violations, `seed ${seed}`).toEqual([]);
      expect(local.size).toBeGreaterThan(KILLS);
      expect(resolvedBy('rolled_back', 'producer') + resolvedBy('rolled_back', 'checkback')).toBeGreaterThan(0);
      expect(killedAt.length, `only ${killedAt.length} of ${KILLS} kills fit in ${KILL_PHASE_LIMIT_MS} ms`).toBe(KILLS);
      expect(new Set(halves.map((half) => half.producerGroup))).toEqual(new Set([TX_PRODUCER_GROUP]));
    },
    TEST_TIMEOUT_MS,
  );
});
