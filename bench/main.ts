// The benchmark suite: `npm run bench` (full), `npm run bench:quick` (same scenarios, about a minute).
// Options: --quick | --smoke, --only=<name prefix>[,<prefix>…], --out=<directory> (default bench/results).
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { describeMachine, pressureNow } from './lib/machine';
import { writeReport } from './lib/report';
import { errorText, runSuites } from './lib/runner';
import { probeServices } from './lib/services';
import { evaluateTargets } from './lib/targets';
import type { BenchContext, BenchMode, BenchResults, SuiteFactory } from './lib/types';
import { serviceVersions } from './lib/versions';
import { commitToHandlerSuite } from './scenarios/commit-to-handler.suite';
import { dedupSuite } from './scenarios/dedup.suite';
import { endToEndSuite } from './scenarios/end-to-end.suite';
import { eventLoopSuite } from './scenarios/event-loop.suite';
import { jetStreamSuite } from './scenarios/jetstream.suite';
import { outboxSuite } from './scenarios/outbox.suite';
import { publishSuite } from './scenarios/publish.suite';
import { relayDrainSuite } from './scenarios/relay-drain.suite';
import { remoteSuite } from './scenarios/remote.suite';
import { rabbitMqTransportSuite } from './scenarios/rabbitmq-transport.suite';
import { telemetrySuite } from './scenarios/telemetry.suite';

const SUITES: readonly SuiteFactory[] = [
  publishSuite,
  endToEndSuite,
  // Right after scenarios 3–4, so that the engine's end-to-end figures and JetStream's are taken minutes apart at most.
  jetStreamSuite,
  // The two engines compared alone, before the scenarios that load PostgreSQL and RabbitMQ: their background work
  // afterwards (checkpoints, vacuum, deleted queues) took a core from the end of an earlier full run.
  eventLoopSuite,
  outboxSuite,
  relayDrainSuite,
  commitToHandlerSuite,
  dedupSuite,
  remoteSuite,
  rabbitMqTransportSuite,
  telemetrySuite,
];

interface Args {
  mode: BenchMode;
  only: string[];
  outDir: string;
  dataDir: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { mode: 'full', only: [], outDir: resolve(__dirname, 'results'), dataDir: undefined };
  for (const arg of argv) {
    if (arg === '--quick') args.mode = 'quick';
    else if (arg === '--smoke') args.mode = 'smoke';
    else if (arg.startsWith('--only=')) args.only = arg.slice('--only='.length).split(',').filter(Boolean);
    else if (arg.startsWith('--out=')) args.outDir = resolve(arg.slice('--out='.length));
    else if (arg.startsWith('--data-dir=')) args.dataDir = resolve(arg.slice('--data-dir='.length));
    else if (arg === '--help' || arg === '-h') {
      console.log(
        'Usage: npm run bench [-- --quick | --smoke] [--only=<prefix>,…] [--out=<dir>] [--data-dir=<dir>]\n' +
          'Scenario names are listed in bench/README.md; --only keeps those starting with a prefix.',
      );
      process.exit(0);
    } else {
      console.error(`Unknown option ${arg}; see --help.`);
      process.exit(2);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  // Databases go to the OS temporary directory unless told otherwise; it is the disk the machine description names.
  const tmpRoot = mkdtempSync(join(args.dataDir ?? os.tmpdir(), `rmq-bench-${runId}-`));
  const progress = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  try {
    const services = await probeServices();
    const ctx: BenchContext = {
      mode: args.mode,
      runId,
      tmpRoot,
      services,
      size: (sizes) => sizes[args.mode],
    };
    const machine = describeMachine(tmpRoot, await serviceVersions(services));
    progress(
      `ReliableMQ benchmarks, ${args.mode} mode: ${machine.cores} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}${machine.pressureAtStart ? `, stall ${machine.pressureAtStart}` : ''}`,
    );
    const scenarios = await runSuites(ctx, SUITES, { only: args.only, progress });
    if (scenarios.length === 0) throw new Error(`No scenario matches --only=${args.only.join(',')}.`);
    machine.loadAverageAtEnd = os.loadavg().map((value) => Math.round(value * 100) / 100);
    const pressure = pressureNow();
    if (pressure) machine.pressureAtEnd = pressure;
    const results: BenchResults = {
      machine,
      runAt: new Date(started).toISOString(),
      mode: args.mode,
      durationSec: Math.round((Date.now() - started) / 100) / 10,
      scenarios,
      targets: evaluateTargets(scenarios),
    };
    const files = writeReport(args.outDir, results);
    progress(`\nTargets:`);
    for (const target of results.targets) {
      progress(
        `  (${target.id}) ${target.pass === null ? 'not measured' : target.pass ? 'pass' : 'MISS'}: ${target.measured}`,
      );
    }
    progress(`\nWrote ${files.join(', ')} in ${results.durationSec} s.`);
    const failed = scenarios.filter((scenario) => scenario.error);
    if (failed.length > 0) {
      progress(`${failed.length} scenario(s) failed: ${failed.map((scenario) => scenario.name).join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(tmpRoot, { recursive: true, force: true });
  }
}

main().then(
  // Pools, cron tasks and sockets of the libraries under test must not keep the process alive after the report.
  () => setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref(),
  (error: unknown) => {
    console.error(`Benchmark run failed: ${errorText(error)}`);
    if (error instanceof Error && error.stack) console.error(error.stack);
    process.exit(1);
  },
);
