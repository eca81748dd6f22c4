import { driveEndToEnd, type EndToEndLoad, type EndToEndRig } from '../lib/end-to-end';
import { freshDir } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';
import { openObservedApp, type ObservedApp } from './telemetry-app';
import { registerSdk, startReceiver } from './telemetry-sdk';

/** The fixed offered rate, as in scenario 7: the whole path on SQLite with sync flush sustains about twice that. */
const FIXED_RATE = 1000;

/**
 * Scenario 12: the framework's whole path (business transaction with its outbox row on SQLite, relay, embedded engine
 * with sync flush, @MqConsumer), with and without the OpenTelemetry SDK registered. Both load the API; without an SDK
 * the framework records nothing. With one, every message gets its create, send and process spans (batched to a local
 * receiver in another process) and its hot-path and observable metrics (scraped every second).
 */
async function observedRig(ctx: BenchContext, sdk: boolean): Promise<EndToEndRig> {
  const dir = freshDir(ctx, `telemetry-${sdk ? 'sdk' : 'nosdk'}`);
  const receiver = sdk ? await startReceiver() : undefined;
  const registered = receiver ? await registerSdk(receiver) : undefined;
  let app: ObservedApp | undefined;
  try {
    app = await openObservedApp(dir.dir);
    const opened = app;
    return {
      probe: opened.probe,
      publish: (seq, sentAt) => opened.order(`${ctx.runId}-${sdk ? 's' : 'n'}-${seq}-${sentAt}`, sentAt),
      close: async () => {
        await opened.close();
        await registered?.stop();
        const received = await receiver?.stop();
        if (received && received.exports === 0) throw new Error('the SDK exported no spans to the receiver');
        dir.remove();
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await registered?.stop();
    await receiver?.stop();
    dir.remove();
    throw error;
  }
}

/**
 * Drives one rig, and adds what the process spent on the CPU meanwhile (every thread: the SDK's exports, the
 * garbage collector), with the messages handled in that time (warm-up included): `cpuUs / handled` is CPU time per
 * message, a figure the load of other processes on the machine moves far less than msg/s.
 */
async function measuredRun(open: () => Promise<EndToEndRig>, load: EndToEndLoad): Promise<Sample> {
  const rig = await open();
  try {
    const handledBefore = rig.probe.count;
    const cpuBefore = process.cpuUsage();
    const sample = await driveEndToEnd(rig, load);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuUs = cpu.user + cpu.system;
    return { ...sample, extra: { ...sample.extra, cpuUs, handled: rig.probe.count - handledBefore } };
  } finally {
    await rig.close();
  }
}

export function telemetrySuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 5000, quick: 1500, smoke: 300 });
  const loads: Array<{ name: string; load: EndToEndLoad; latencyOf: string }> = [
    {
      name: 'max',
      load: { kind: 'max', durationMs: duration, maxCount: ctx.size({ full: 500_000, quick: 100_000, smoke: 2_000 }) },
      latencyOf: 'publisher.transaction call → handler',
    },
    {
      // Half of what this path sustains here without an SDK: a rate both runs keep, so the latencies compare.
      name: `rate${FIXED_RATE}`,
      load: { kind: 'rate', durationMs: duration, ratePerSec: FIXED_RATE },
      latencyOf: 'scheduled send → handler',
    },
  ];
  const measurements: Measurement[] = [];
  for (const { name, load, latencyOf } of loads) {
    measurements.push(
      {
        name: `telemetry.e2e.nosdk.${name}`,
        group: 12,
        title: `Framework end to end (outbox on SQLite, relay, engine sync, @MqConsumer), OpenTelemetry API without an SDK, ${name}`,
        latencyOf,
        run: () => measuredRun(() => observedRig(ctx, false), load),
      },
      {
        name: `telemetry.e2e.sdk.${name}`,
        group: 12,
        title: `The same with the Node SDK: spans batched over OTLP/HTTP to a receiver process, metrics scraped each second, ${name}`,
        baseline: `telemetry.e2e.nosdk.${name}`,
        latencyOf,
        run: () => measuredRun(() => observedRig(ctx, true), load),
      },
    );
  }
  return {
    id: 'telemetry',
    title: 'Scenario 12: the cost of an OpenTelemetry SDK on the framework end to end',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
  };
}
