import { LatencySamples, median } from './samples';
import type { BenchContext, Measurement, Sample, ScenarioResult, Suite, SuiteFactory } from './types';

export interface RunnerOptions {
  /** Keep only measurements whose name starts with one of these; all when empty. */
  only: readonly string[];
  progress: (line: string) => void;
}

/** `--only` entries match whole dot-separated segments: `engine.publish` keeps `engine.publish.sync.c1`, not `engine.publisher`. */
const selected = (name: string, only: readonly string[]): boolean =>
  only.length === 0 ||
  only.some((prefix) => name === prefix || name.startsWith(prefix.endsWith('.') ? prefix : `${prefix}.`));

export const formatRate = (rate: number | null): string =>
  rate === null ? '–' : rate >= 100 ? Math.round(rate).toLocaleString('en-US') : rate.toFixed(1);
export const formatMs = (ms: number | null): string =>
  ms === null ? '–' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);

interface Accumulator {
  measurement: Measurement;
  latencies: LatencySamples;
  rates: number[];
  count: number;
  durationMs: number;
  extra: Record<string, number>;
  extraRounds: Record<string, number>;
  error?: string;
  skipped?: string;
}

/**
 * Runs the suites in order. Within a suite, each round runs every selected measurement once, so a scenario and its
 * baseline alternate in time and drift of the machine (other load, disk state) touches both alike.
 */
export async function runSuites(
  ctx: BenchContext,
  factories: readonly SuiteFactory[],
  options: RunnerOptions,
): Promise<ScenarioResult[]> {
  const suites: Array<{ suite: Suite; measurements: Measurement[] }> = [];
  for (const factory of factories) {
    const suite = factory(ctx);
    const measurements = suite.measurements.filter((m) => selected(m.name, options.only));
    if (measurements.length > 0) suites.push({ suite, measurements });
  }
  const steps = suites.reduce((sum, { suite, measurements }) => sum + suite.rounds * measurements.length, 0);
  let step = 0;
  const results: ScenarioResult[] = [];
  for (const { suite, measurements } of suites) {
    const acc = new Map<string, Accumulator>(
      measurements.map((measurement) => [
        measurement.name,
        {
          measurement,
          latencies: new LatencySamples(),
          rates: [],
          count: 0,
          durationMs: 0,
          extra: {},
          extraRounds: {},
        },
      ]),
    );
    for (const entry of acc.values()) {
      const missing = (entry.measurement.requires ?? []).filter((service) => !ctx.services[service]);
      if (missing.length > 0) entry.skipped = `${missing.join(', ')} not reachable`;
    }
    options.progress(`── ${suite.title}`);
    const suiteStarted = performance.now();
    let setupError: string | undefined;
    try {
      await suite.setup?.();
    } catch (error) {
      setupError = `setup failed: ${errorText(error)}`;
    }
    if (!setupError) {
      for (const entry of acc.values()) {
        const reason = entry.skipped ? undefined : entry.measurement.unavailable?.();
        if (reason) entry.skipped = reason;
      }
    }
    try {
      for (let round = 0; round < suite.rounds; round++) {
        for (const measurement of measurements) {
          step += 1;
          const entry = acc.get(measurement.name)!;
          const label = `[${String(step).padStart(String(steps).length)}/${steps}] ${measurement.name}${
            suite.rounds > 1 ? ` (round ${round + 1}/${suite.rounds})` : ''
          }`;
          if (setupError && !entry.error) entry.error = setupError;
          if (entry.skipped || entry.error) {
            options.progress(`${label}: ${entry.skipped ? `skipped, ${entry.skipped}` : `not run, ${entry.error}`}`);
            continue;
          }
          options.progress(`${label} …`);
          let sample: Sample;
          try {
            sample = await measurement.run(round);
          } catch (error) {
            entry.error = errorText(error);
            options.progress(`${label}: FAILED: ${entry.error}`);
            continue;
          }
          if ((sample.errors ?? 0) > 0) {
            entry.error = `${sample.errors} operation(s) failed, first: ${sample.firstError}`;
            options.progress(`${label}: FAILED: ${entry.error}`);
            continue;
          }
          const rate = sample.elapsedMs > 0 ? (sample.count * 1000) / sample.elapsedMs : 0;
          entry.rates.push(rate);
          entry.count += sample.count;
          entry.durationMs += sample.elapsedMs;
          entry.latencies.addAll(sample.latencies);
          for (const [key, value] of Object.entries(sample.extra ?? {})) {
            entry.extra[key] = (entry.extra[key] ?? 0) + value;
            entry.extraRounds[key] = (entry.extraRounds[key] ?? 0) + 1;
          }
          const [p50, p99] = sample.latencies.percentiles([50, 99]);
          options.progress(
            `${' '.repeat(label.indexOf(']') + 2)}${formatRate(rate)} msg/s, p50 ${formatMs(p50 ?? null)} ms, p99 ${formatMs(p99 ?? null)} ms (${sample.count} in ${(sample.elapsedMs / 1000).toFixed(1)} s)`,
          );
        }
      }
    } finally {
      try {
        await suite.teardown?.();
      } catch (error) {
        options.progress(`   teardown of ${suite.id} failed: ${errorText(error)}`);
      }
    }
    for (const entry of acc.values()) results.push(toResult(entry));
    options.progress(`   (${suite.id}: ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s)`);
  }
  return withRatios(results);
}

function toResult(entry: Accumulator): ScenarioResult {
  const m = entry.measurement;
  const ok = !entry.error && !entry.skipped && entry.rates.length > 0;
  const [p50, p99] = ok ? entry.latencies.percentiles([50, 99]) : [null, null];
  return {
    name: m.name,
    group: m.group,
    title: m.title,
    msgsPerSec: ok ? median(entry.rates) : null,
    p50Ms: p50 ?? null,
    p99Ms: p99 ?? null,
    meanMs: ok ? entry.latencies.mean() : null,
    baseline: m.baseline ?? null,
    ratio: null,
    count: entry.count,
    durationMs: Math.round(entry.durationMs),
    rounds: entry.rates.length,
    roundRates: entry.rates.map((rate) => Math.round(rate * 10) / 10),
    latencyOf: m.latencyOf,
    ...(Object.keys(entry.extra).length > 0 ? { extra: extraFigures(entry) } : {}),
    ...(entry.skipped ? { skipped: entry.skipped } : {}),
    ...(entry.error ? { error: entry.error } : {}),
  };
}

/** Counts add up over rounds; figures named `…Ms` (times) are averaged over the rounds that reported them. */
function extraFigures(entry: Accumulator): Record<string, number> {
  return Object.fromEntries(
    Object.entries(entry.extra).map(([key, sum]) => {
      const value = key.endsWith('Ms') ? sum / (entry.extraRounds[key] ?? 1) : sum;
      return [key, Math.round(value * 100) / 100];
    }),
  );
}

function withRatios(results: ScenarioResult[]): ScenarioResult[] {
  const byName = new Map(results.map((result) => [result.name, result]));
  return results.map((result) => {
    const base = result.baseline ? byName.get(result.baseline) : undefined;
    const ratio =
      base && base.msgsPerSec && result.msgsPerSec !== null
        ? Math.round((result.msgsPerSec / base.msgsPerSec) * 1000) / 1000
        : null;
    return { ...result, ratio };
  });
}

export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
