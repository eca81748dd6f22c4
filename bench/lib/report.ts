import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMs, formatRate } from './runner';
import { latencyChart, throughputChart } from './svg';
import type { BenchResults, ScenarioResult } from './types';

const SPEC_TITLES: Record<number, string> = {
  1: 'Limit (raw SQLite)',
  2: 'Engine publish with confirms',
  3: 'Engine end to end',
  4: 'RabbitMQ baseline',
  5: 'Outbox overhead',
  6: 'Relay drain',
  7: 'Commit to handler',
  8: 'Dedup cost',
  9: 'Remote publish (broker over TCP)',
  10: 'Remote end to end (broker over TCP)',
  11: 'RabbitMQ transport end to end',
  12: 'OpenTelemetry SDK cost (framework end to end)',
  13: 'NATS JetStream baseline (end to end, flush stated per row)',
  14: "The application's event loop: engine in process or on a worker thread",
};

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function resultCell(pass: boolean | null): string {
  if (pass === null) return 'not measured';
  return pass ? '**pass**' : '**MISS**';
}

function scenarioRow(result: ScenarioResult): string {
  const status = result.skipped ? `skipped: ${result.skipped}` : result.error ? `FAILED: ${result.error}` : '';
  const ratio = result.ratio === null ? '' : `${result.ratio.toFixed(2)}×`;
  const extra = result.extra
    ? Object.entries(result.extra)
        .map(([key, value]) => `${key} ${Number.isInteger(value) ? value : value.toFixed(2)}`)
        .join(', ')
    : '';
  return `| ${result.group} | \`${result.name}\` | ${cell(result.title)} | ${formatRate(result.msgsPerSec)} | ${formatMs(result.p50Ms)} | ${formatMs(result.p99Ms)} | ${result.baseline ? `\`${result.baseline}\`` : ''} | ${ratio} | ${cell(result.latencyOf)} | ${cell([status, extra].filter(Boolean).join('; '))} |`;
}

export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const lines: string[] = [
    '# Benchmark results',
    '',
    `Run at ${results.runAt} in **${results.mode}** mode (${results.durationSec.toFixed(0)} s). How to read these figures, and what each scenario does: [bench/README.md](../README.md).`,
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpuModel}, ${m.cores} cores`,
    `- Memory: ${m.memoryGiB} GiB`,
    `- Node: ${m.node}`,
    `- OS: ${m.os}`,
    `- Disk (benchmark data): ${m.disk}`,
    `- Load average at start: ${m.loadAverageAtStart.join(', ')}${m.loadAverageAtEnd ? `; at end: ${m.loadAverageAtEnd.join(', ')}` : ''}`,
    ...(m.pressureAtStart
      ? [
          `- Stalled share of the last minute (PSI, CPU and I/O): at start ${m.pressureAtStart}${m.pressureAtEnd ? `; at end ${m.pressureAtEnd}` : ''}`,
        ]
      : []),
    ...Object.entries(m.services).map(([name, version]) => `- ${name}: ${version}`),
    '',
    '## Targets',
    '',
    '| | Target | Measured in this run | Result |',
    '|---|---|---|---|',
    ...results.targets.map((t) => `| (${t.id}) | ${cell(t.text)} | ${cell(t.measured)} | ${resultCell(t.pass)} |`),
    '',
    '## Scenarios',
    '',
    "msg/s is the median over rounds; p50 and p99 are over every sample of every round; ratio is msg/s divided by the baseline's msg/s from this same run.",
    '',
    '| # | Scenario | What | msg/s | p50 ms | p99 ms | Baseline | Ratio | Latency of | Notes |',
    '|---|---|---|---:|---:|---:|---|---:|---|---|',
  ];
  let group = 0;
  for (const result of results.scenarios) {
    if (result.group !== group) group = result.group;
    lines.push(scenarioRow(result));
  }
  lines.push(
    '',
    'Scenario numbers: ' +
      Object.entries(SPEC_TITLES)
        .map(([n, title]) => `${n} ${title}`)
        .join(' · ') +
      '.',
    '',
    '## Charts',
    '',
    '![Throughput per scenario](throughput.svg)',
    '',
    '![p50 and p99 latency per scenario](latency.svg)',
    '',
  );
  return lines.join('\n');
}

/** Writes latest.json, latest.md and the two SVG charts into `outDir`. */
export function writeReport(outDir: string, results: BenchResults): string[] {
  mkdirSync(outDir, { recursive: true });
  const subtitle = `${results.machine.cores} cores, Node ${results.machine.node}, ${results.mode} run at ${results.runAt}`;
  const files: Array<[string, string]> = [
    ['latest.json', `${JSON.stringify(results, null, 2)}\n`],
    ['latest.md', renderMarkdown(results)],
    ['throughput.svg', throughputChart(results.scenarios, subtitle)],
    ['latency.svg', latencyChart(results.scenarios, subtitle)],
  ];
  for (const [name, content] of files) writeFileSync(join(outDir, name), content);
  return files.map(([name]) => join(outDir, name));
}
