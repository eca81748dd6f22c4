import { BrokerEngine, WorkerEngine, type Delivery } from '@reliable-mq/engine';
import { startCpuBurner, type CpuBurner } from '../lib/cpu-burner';
import {
  E2E_DRAIN_TIMEOUT_MS,
  E2E_PREFETCH as PREFETCH,
  E2E_PUBLISHERS as PUBLISHERS,
  E2E_WINDOW as WINDOW,
  driveEndToEnd,
  HandlerProbe,
  type EndToEndLoad,
  type EndToEndRig,
} from '../lib/end-to-end';
import { LoopLagSampler } from '../lib/loop-lag';
import { nowMs } from '../lib/samples';
import { freshDir, sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

const TOPIC = 'bench';
/** The offered rate at which the application's event loop must stay responsive with the engine on its own thread. */
export const LOOP_RATE = 20_000;
/** Half of it: both engines sustain it here, so their lags compare at the same load. */
export const LOOP_HALF_RATE = 10_000;
/** The offered rate of the commit-to-handler runs with the machine busy. */
export const BUSY_RATE = 1_000;
/**
 * How long each handler hashes its message. A fixed time, not a fixed count: 64 passes over the body took 20 µs in a
 * loop on their own but 30–35 µs in the handlers here, and more or less in one engine's thread than in the other's.
 * Plain arithmetic, nothing allocated: the work loads the thread and never the collector. (SHA-256 digests by
 * `createHash` would: each is a native object released by the young generation's collections, which took 15–25 ms
 * each here at 10,000 msg/s and would be counted as the engine's lag.)
 */
export const HANDLER_WORK_US = 20;

type EngineKind = 'inprocess' | 'worker';

const ENGINE_NAMES: Record<EngineKind, string> = {
  inprocess: '`BrokerEngine` (in process)',
  worker: '`WorkerEngine` (worker thread)',
};

/** Where the handlers leave their hashes, so that the compiler cannot drop the work as unused. */
const handled = { checksum: 0 };

/** The handler's CPU work: FNV-1a (32 bits) over the body, pass after pass, until `HANDLER_WORK_US` have passed. */
function handlerWork(body: Buffer): number {
  const until = nowMs() + HANDLER_WORK_US / 1000;
  let hash = 0x811c9dc5;
  do {
    for (let i = 0; i < body.length; i++) hash = Math.imul(hash ^ body[i]!, 0x01000193);
  } while (nowMs() < until);
  return hash >>> 0;
}

/**
 * One engine, in process or on its worker thread, with a topic of 4 queues and one consumer group whose handler
 * records send → handler start and then does the handler's CPU work. Sync flush. The rig tells `measure` when the
 * driver's measured window opens and closes.
 */
async function engineRig(
  ctx: BenchContext,
  kind: EngineKind,
  measure: { started(): void; ended(): void },
): Promise<EndToEndRig> {
  const tmp = freshDir(ctx, `loop-${kind}`);
  const probe = new HandlerProbe();
  const subscription = {
    group: 'bench-loop',
    topic: TOPIC,
    prefetch: PREFETCH,
    handler: async (delivery: Delivery): Promise<void> => {
      probe.handled(sentAtOf(delivery.body));
      handled.checksum ^= handlerWork(delivery.body);
    },
  };
  let publish: (body: Buffer, key: string) => Promise<unknown>;
  let close: () => Promise<void>;
  try {
    // The same calls on either engine: the in-process one answers at once, the worker one once its thread has.
    const engine =
      kind === 'inprocess'
        ? BrokerEngine.open({ dataDir: tmp.dir, flush: 'sync' })
        : await WorkerEngine.open({ dataDir: tmp.dir, flush: 'sync' });
    try {
      await engine.createTopic(TOPIC, { queueCount: 4 });
      const member = await engine.subscribe(subscription);
      publish = (body, key) => engine.publish([{ topic: TOPIC, key, body }]);
      close = async () => {
        await member.close();
        await engine.close();
      };
    } catch (error) {
      await engine.close();
      throw error;
    }
  } catch (error) {
    tmp.remove();
    throw error;
  }
  return {
    publish: async (seq, sentAt) => {
      await publish(timedBody(sentAt), `order-${seq}`);
    },
    probe,
    measureStarted: () => measure.started(),
    measureEnded: () => measure.ended(),
    close: async () => {
      try {
        await close();
      } finally {
        tmp.remove();
      }
    },
  };
}

/**
 * Event-loop lag under load: the driver's load on the engine, the application's event-loop lag sampled over the
 * measured window. The lag samples are the round's latencies; send → handler goes to the notes.
 */
function loopRun(ctx: BenchContext, kind: EngineKind, load: EndToEndLoad) {
  return async (): Promise<Sample> => {
    const lag = new LoopLagSampler();
    const rig = await engineRig(ctx, kind, { started: () => lag.start(), ended: () => lag.stop() });
    try {
      const sample = await driveEndToEnd(rig, load);
      const [e2eP50, e2eP99] = sample.latencies.percentiles([50, 99]);
      return {
        ...sample,
        latencies: lag.samples,
        extra: {
          ...sample.extra,
          loopLagMaxMs: lag.maxMs,
          e2eP50Ms: e2eP50 ?? 0,
          e2eP99Ms: e2eP99 ?? 0,
        },
      };
    } finally {
      lag.stop();
      await rig.close();
    }
  };
}

/**
 * Commit to handler with the machine busy: a fixed rate, latency from the scheduled send (before the publish call)
 * to the handler's start, while a process of the benchmark's own keeps one core busy from before the warm-up to the
 * end of the round.
 */
function busyRun(ctx: BenchContext, kind: EngineKind, load: EndToEndLoad) {
  return async (): Promise<Sample> => {
    const lag = new LoopLagSampler();
    const rig = await engineRig(ctx, kind, { started: () => lag.start(), ended: () => lag.stop() });
    let burner: CpuBurner | undefined;
    try {
      // Bounded by its own deadline too: the warm-up's drain, the load and the driver's drain timeout at most.
      burner = await startCpuBurner(load.durationMs + E2E_DRAIN_TIMEOUT_MS + 30_000);
      const sample = await driveEndToEnd(rig, load);
      const burned = await burner.stop();
      const [lagP50, lagP99] = lag.samples.percentiles([50, 99]);
      return {
        ...sample,
        extra: {
          ...sample.extra,
          loopLagP50Ms: lagP50 ?? 0,
          loopLagP99Ms: lagP99 ?? 0,
          loopLagMaxMs: lag.maxMs,
          burnerCpuMs: burned.cpuMs,
          burnerWallMs: burned.wallMs,
        },
      };
    } finally {
      lag.stop();
      await burner?.stop();
      await rig.close();
    }
  };
}

export function eventLoopSuite(ctx: BenchContext): Suite {
  const maxLoad: EndToEndLoad = {
    kind: 'max',
    durationMs: ctx.size({ full: 5000, quick: 2000, smoke: 200 }),
    maxCount: ctx.size({ full: 2_000_000, quick: 500_000, smoke: 500 }),
  };
  const loopRateLoad = (ratePerSec: number): EndToEndLoad => ({
    kind: 'rate',
    durationMs: ctx.size({ full: 5000, quick: 2000, smoke: 250 }),
    ratePerSec,
  });
  const busyLoad: EndToEndLoad = {
    kind: 'rate',
    durationMs: ctx.size({ full: 10_000, quick: 3000, smoke: 300 }),
    ratePerSec: BUSY_RATE,
  };
  const work = `handlers hash the body for ${HANDLER_WORK_US} µs`;
  const lagOf = "the application's event-loop lag (1 ms timer ticks, lateness of each)";
  const kinds: EngineKind[] = ['inprocess', 'worker'];
  const measurements: Measurement[] = [
    ...kinds.map((kind): Measurement => ({
      name: `engine.loop.${kind}.max`,
      group: 14,
      title: `${ENGINE_NAMES[kind]}, sync flush, ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate), ${work}`,
      ...(kind === 'worker' ? { baseline: 'engine.loop.inprocess.max' } : {}),
      latencyOf: lagOf,
      run: loopRun(ctx, kind, maxLoad),
    })),
    ...[LOOP_HALF_RATE, LOOP_RATE].flatMap((rate) =>
      kinds.map((kind): Measurement => ({
        name: `engine.loop.${kind}.rate${rate}`,
        group: 14,
        title: `${ENGINE_NAMES[kind]}, sync flush, fixed ${rate.toLocaleString('en-US')} msg/s, ${work}`,
        ...(kind === 'worker' ? { baseline: `engine.loop.inprocess.rate${rate}` } : {}),
        latencyOf: lagOf,
        run: loopRun(ctx, kind, loopRateLoad(rate)),
      })),
    ),
    ...kinds.map((kind): Measurement => ({
      name: `engine.c2h.busy.${kind}`,
      group: 14,
      title: `${ENGINE_NAMES[kind]}, sync flush, fixed ${BUSY_RATE.toLocaleString('en-US')} msg/s, one core kept busy by another process, ${work}`,
      ...(kind === 'worker' ? { baseline: 'engine.c2h.busy.inprocess' } : {}),
      latencyOf: 'scheduled send (before the publish call) to handler start',
      run: busyRun(ctx, kind, busyLoad),
    })),
  ];
  return {
    id: 'event-loop',
    title: "Scenario 14: the application's event loop with the engine in process and on a worker thread",
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
  };
}
