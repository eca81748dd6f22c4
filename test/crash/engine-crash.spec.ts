import { join } from 'node:path';
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
import { CrashLedger } from './engine-crash.ledger';
import {
  CRASH_GROUP,
  CRASH_TOPICS,
  groupViewOf,
  headsOf,
  type ChildLine,
  type GroupView,
  type OffsetView,
  type PositionedId,
} from './engine-crash.protocol';

/**
 * Durability under SIGKILL. A child process publishes with `flush: 'sync'` and consumes with a clustering group; it is
 * killed at a random moment, the data directory is inspected, and the next child carries on from what survived. After
 * the last kill a clean run drains everything. See CrashLedger for the invariants checked after every kill.
 *
 * CRASH_KILLS sets the number of kills (default 50, or 20 when CI=true); CRASH_SEED replays a run's kill timing. The
 * test runs once with the engine in the child's main thread and once with it on a worker thread (`WorkerEngine`).
 */

const CHILD = 'test/crash/engine-crash.child.ts';
const KILLS = killCountFromEnv('CRASH_KILLS', { local: 50, ci: 20 });
const KILL_DELAY_MIN_MS = 50;
const KILL_DELAY_MAX_MS = 400;
/** The kill loop stops here even if it has not reached KILLS, so drain and checks still fit in the test timeout. */
const KILL_PHASE_LIMIT_MS = 125_000;
const TEST_TIMEOUT_MS = 175_000;
const STARTUP_LIMIT_MS = 30_000;
const DRAIN_LIMIT_MS = 70_000;
const INSPECT_LIMIT_MS = 20_000;
const AUDIT_GROUP = 'crash-audit';
const FINAL_READ_GROUP = 'crash-final-read';

interface ChildResult extends Omit<ChildEnd<ChildLine>, 'overran'> {
  /** Set when the parent had to stop a child that overran its limit. */
  overran: string | null;
}

const children = new Set<LineChild<{ kind: string }>>();

/**
 * Runs one child. With `killAfterMs`, the child is SIGKILLed that long after it reports it is producing; without it,
 * the child must drain and exit by itself. Either way the child is killed (by its own handle, so by its PID) if it
 * overruns its limit, and the promise settles once its output is fully read.
 */
async function runChild(
  thread: EngineThread,
  dataDir: string,
  run: number,
  killAfterMs: number | null,
): Promise<ChildResult> {
  const spawned = spawnTs(CHILD, [dataDir, String(run), killAfterMs === null ? 'drain' : 'crash', thread], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = new LineChild<ChildLine>(`run ${run}`, spawned, children);
  const limitMs = killAfterMs === null ? DRAIN_LIMIT_MS : STARTUP_LIMIT_MS;
  let killTimer: NodeJS.Timeout | undefined;
  try {
    const end = await child.endWithin(limitMs, (line, limit) => {
      if (line.kind === 'producing' && killAfterMs !== null) {
        limit.cancel();
        killTimer = setTimeout(() => child.kill(), killAfterMs);
      }
    });
    return { ...end, overran: end.overran ? `run ${run} overran its ${limitMs} ms limit` : null };
  } finally {
    clearTimeout(killTimer);
  }
}

interface Inspection {
  durable: GroupView | null;
  heads: OffsetView;
  read: PositionedId[];
}

/**
 * Opens the engine on the data directory while no child runs, notes the crash group's offsets as storage has them,
 * then reads every message through `readGroup` (startFrom earliest) until that group has no lag, and closes cleanly.
 */
function inspect(dataDir: string, readGroup: string): Promise<Inspection> {
  return inspectEngine({ dataDir, flush: 'sync' }, async (engine) => {
    const read: PositionedId[] = [];
    const before = engine.stats();
    const durable = groupViewOf(before, CRASH_GROUP);
    const heads = headsOf(before);
    for (const topic of CRASH_TOPICS) {
      await engine.subscribe({
        group: readGroup,
        topic: topic.name,
        memberId: 'inspector',
        startFrom: 'earliest',
        prefetch: 512,
        handler: async (delivery) => {
          read.push({
            id: delivery.messageId,
            topic: delivery.topic,
            queueId: delivery.queueId,
            queueOffset: delivery.queueOffset,
          });
        },
      });
    }
    await waitForGroupCaughtUp(engine, readGroup, INSPECT_LIMIT_MS, 'inspection could not read the backlog');
    return { durable, heads, read };
  });
}

function describeChild(run: number, result: ChildResult): string {
  const errors = result.lines
    .filter((line) => line.kind === 'error')
    .map((line) => (line as { message: string }).message);
  return [
    `run ${run}: exit code ${result.code}, signal ${result.signal}`,
    result.overran ?? '',
    errors.length > 0 ? `errors:\n${errors.join('\n')}` : '',
    result.stderr ? `stderr:\n${result.stderr}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

type EngineThread = 'main' | 'worker';

describe.each<EngineThread>(['main', 'worker'])('broker engine under SIGKILL, engine on the %s thread', (thread) => {
  const dataRoot = createDataRoot(`rmq-engine-crash-${thread}-`);

  afterAll(() => {
    for (const child of children) child.kill();
    releaseDataRoot(dataRoot, process.env.CRASH_KEEP_DATA === '1', 'crash data');
  });

  it(
    `loses no confirmed message, never moves offsets back, and redelivers whatever was not acked (${KILLS} kills)`,
    async () => {
      const seed = seedFromEnv('CRASH_SEED');
      const random = seededRandom(seed);
      const dataDir = join(dataRoot, 'broker');
      const ledger = new CrashLedger();
      const started = Date.now();
      let run = 0;
      let kills = 0;

      while (kills < KILLS && Date.now() - started < KILL_PHASE_LIMIT_MS && ledger.violations.length === 0) {
        run++;
        const delay = randomIntBetween(random, KILL_DELAY_MIN_MS, KILL_DELAY_MAX_MS);
        const result = await runChild(thread, dataDir, run, delay);
        const wasKilled =
          result.signal === 'SIGKILL' &&
          result.overran === null &&
          result.lines.some((line) => line.kind === 'producing');
        expect(wasKilled, describeChild(run, result)).toBe(true);
        expect(result.stderr, describeChild(run, result)).toBe('');
        kills++;
        const inspection = await inspect(dataDir, AUDIT_GROUP);
        ledger.recordStored(inspection.read, `after kill ${kills}`);
        ledger.applyRun(run, result.lines, true);
        ledger.recordDurable(inspection.durable, inspection.heads, `after kill ${kills}`);
      }
      expect(ledger.violations, `seed ${seed}`).toEqual([]);

      run++;
      const drain = await runChild(thread, dataDir, run, null);
      expect(drain.code, describeChild(run, drain)).toBe(0);
      expect(drain.stderr, describeChild(run, drain)).toBe('');
      const final = await inspect(dataDir, FINAL_READ_GROUP);
      ledger.applyRun(run, drain.lines, false);
      ledger.recordDurable(final.durable, final.heads, 'after the drain');
      const totals = ledger.finish(final.read, final.durable, final.heads);

      console.log(
        [
          `engine crash test, ${thread} thread (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s):`,
          `  kills ${totals.kills} in ${totals.runs} runs`,
          `  published ${totals.attempted}, confirmed ${totals.confirmed}, stored ${totals.stored} (${totals.storedUnconfirmed} stored without a confirm)`,
          `  delivered ${totals.delivered} distinct in ${totals.deliveries} deliveries, ${totals.plannedFailures} planned handler failures retried`,
          `  redelivered after a crash ${totals.redeliveredAfterCrash} (${totals.handledAgainAfterSuccess} already handled once; ${totals.inFlightAtKill} in flight at a kill; ${totals.offsetsLostAtKill} in-memory offset steps not yet durable at a kill)`,
          `  lost ${totals.lost}`,
        ].join('\n'),
      );

      expect(ledger.violations, `seed ${seed}`).toEqual([]);
      expect(totals.lost).toBe(0);
      expect(totals.confirmed).toBeGreaterThan(0);
      expect(kills, `only ${kills} of ${KILLS} kills fit in ${KILL_PHASE_LIMIT_MS} ms`).toBe(KILLS);
    },
    TEST_TIMEOUT_MS,
  );
});
