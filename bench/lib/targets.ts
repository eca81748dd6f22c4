import { formatMs, formatRate } from './runner';
import type { ScenarioResult, TargetResult } from './types';

const pct = (value: number): string => `${(value * 100).toFixed(0)}%`;
const signedPct = (value: number): string => `${value < 0 ? '−' : '+'}${Math.abs(value * 100).toFixed(0)}%`;

/** The suite's targets (a)–(e), each a ratio or bound taken from figures of the same run. */
export function evaluateTargets(results: readonly ScenarioResult[]): TargetResult[] {
  const get = (name: string): ScenarioResult | undefined => results.find((result) => result.name === name);
  const rate = (name: string): number | null => get(name)?.msgsPerSec ?? null;
  const missing = (...names: string[]): string | null => {
    const absent = names.filter((name) => rate(name) === null);
    if (absent.length === 0) return null;
    return `${absent.map((name) => `${name} (${get(name)?.skipped ?? get(name)?.error ?? 'not run'})`).join('; ')}`;
  };
  const targets: TargetResult[] = [];

  {
    const text = 'Engine `sync` publish (64 publishers) ≥ 50% of raw `FULL` 100-row-transaction rate';
    const gap = missing('engine.publish.sync.c64', 'limit.full.tx100');
    if (gap) targets.push({ id: 'a', text, measured: gap, pass: null });
    else {
      const ratio = rate('engine.publish.sync.c64')! / rate('limit.full.tx100')!;
      targets.push({
        id: 'a',
        text,
        measured: `${formatRate(rate('engine.publish.sync.c64'))} / ${formatRate(rate('limit.full.tx100'))} msg/s = ${pct(ratio)}`,
        pass: ratio >= 0.5,
      });
    }
  }

  {
    const text = 'Engine end-to-end throughput ≥ 1.0× RabbitMQ (classic queue, confirms, persistent), p99 no worse';
    const gap = missing('engine.e2e.max', 'rabbitmq.classic.e2e.max', 'engine.e2e.rate2000', 'rabbitmq.classic.e2e.rate2000');
    if (gap) targets.push({ id: 'b', text, measured: gap, pass: null });
    else {
      const ratio = rate('engine.e2e.max')! / rate('rabbitmq.classic.e2e.max')!;
      const engineP99 = get('engine.e2e.rate2000')!.p99Ms!;
      const rabbitP99 = get('rabbitmq.classic.e2e.rate2000')!.p99Ms!;
      const engineMaxP99 = get('engine.e2e.max')!.p99Ms!;
      const rabbitMaxP99 = get('rabbitmq.classic.e2e.max')!.p99Ms!;
      targets.push({
        id: 'b',
        text,
        measured:
          `throughput ${formatRate(rate('engine.e2e.max'))} / ${formatRate(rate('rabbitmq.classic.e2e.max'))} msg/s = ${ratio.toFixed(2)}×; ` +
          `p99 at 2,000 msg/s ${formatMs(engineP99)} vs ${formatMs(rabbitP99)} ms; ` +
          `p99 at the highest rate ${formatMs(engineMaxP99)} vs ${formatMs(rabbitMaxP99)} ms`,
        pass: ratio >= 1.0 && engineP99 <= rabbitP99,
      });
    }
  }

  {
    const text = 'The outbox write adds ≤ 15% to the business transaction time (SQLite and PostgreSQL)';
    const parts: string[] = [];
    let pass: boolean | null = true;
    for (const db of ['sqlite', 'postgres']) {
      const without = `outbox.${db}.without`;
      const withOutbox = `outbox.${db}.with`;
      const gap = missing(without, withOutbox);
      if (gap) {
        parts.push(`${db}: ${gap}`);
        pass = null;
        continue;
      }
      const overhead = rate(without)! / rate(withOutbox)! - 1;
      const floorRate = rate(`outbox.${db}.second-insert`);
      const floor = floorRate === null ? '' : ` (a hand-written INSERT of the row alone: ${signedPct(rate(without)! / floorRate - 1)})`;
      parts.push(
        `${db}: ${formatMs(1000 / rate(withOutbox)!)} vs ${formatMs(1000 / rate(without)!)} ms per transaction = ${signedPct(overhead)}${floor}`,
      );
      if (pass !== null) pass = pass && overhead <= 0.15;
    }
    targets.push({ id: 'c', text, measured: parts.join('; '), pass });
  }

  {
    const text = 'Commit to handler at 1,000 msg/s: p50 ≤ 5 ms and p99 ≤ 25 ms';
    const parts: string[] = [];
    let pass: boolean | null = null;
    for (const db of ['sqlite', 'postgres']) {
      const name = `commit-to-handler.${db}.rate1000`;
      const result = get(name);
      const gap = missing(name);
      if (gap || !result) {
        parts.push(`${db}: ${gap ?? 'not run'}`);
        continue;
      }
      const sustained = (result.extra?.skipped ?? 0) === 0 && result.msgsPerSec! >= 950;
      const ok = result.p50Ms! <= 5 && result.p99Ms! <= 25 && sustained;
      parts.push(
        `${db}: p50 ${formatMs(result.p50Ms)} ms, p99 ${formatMs(result.p99Ms)} ms at ${formatRate(result.msgsPerSec)} msg/s${sustained ? '' : ' (offered rate not sustained)'}`,
      );
      pass = pass === null ? ok : pass && ok;
    }
    targets.push({ id: 'd', text, measured: parts.join('; '), pass });
  }

  {
    const text = 'Relay drain on SQLite ≥ 20,000 msg/s and ≥ 40% of raw `FULL` 100-row rate';
    // The limit measured next to the drain when there is one: minutes apart, the disk of a shared machine can differ.
    const limit = rate('relay.limit.full.tx100') !== null ? 'relay.limit.full.tx100' : 'limit.full.tx100';
    const gap = missing('relay.drain.sqlite', limit);
    if (gap) targets.push({ id: 'e', text, measured: gap, pass: null });
    else {
      const drain = rate('relay.drain.sqlite')!;
      const ratio = drain / rate(limit)!;
      const floor = rate('relay.floor.sqlite');
      targets.push({
        id: 'e',
        text,
        measured:
          `${formatRate(drain)} msg/s; / ${formatRate(rate(limit))} (\`${limit}\`) = ${pct(ratio)}` +
          (floor === null
            ? ''
            : `; the relay's SQL alone (\`relay.floor.sqlite\`) reaches ${formatRate(floor)} msg/s = ${pct(floor / rate(limit)!)} of that limit`),
        pass: drain >= 20_000 && ratio >= 0.4,
      });
    }
  }
  return targets;
}
