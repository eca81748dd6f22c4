#!/usr/bin/env node
// Instructions per message of the framework's whole path (scenario 12's application) with @opentelemetry/api loaded
// and no SDK registered, against the same with the API unresolvable (the framework then runs without telemetry),
// and with the Node SDK registered (spans exported to a receiver process).
// Wall-clock rates on a shared 2-core machine move by far more than the 2% this has to resolve; the number of
// instructions the process executes for the same messages moves very little, whatever else the machine runs.
//
// Each run is one process under `valgrind --tool=callgrind`: it starts the application, sends a warm-up, then the
// measured messages between two marks that make callgrind dump its counts (see telemetry-instructions.child.ts), so
// start-up, warm-up and shutdown are left out. The variants of a round run side by side: a count of instructions
// does not depend on what else runs, and the run takes a third of the time.
//
// Usage: node bench/tools/telemetry-instructions.mjs [--rounds=3] [--warm-up=300] [--messages=1000]
//        [--mode=concurrent|one-by-one|calls] [--out=DIR]
// concurrent (default): 16 publishers, as in scenario 12. one-by-one: each message sent once the last was handled.
// calls: only the telemetry calls the framework makes per message (see telemetry-instructions.child.ts).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../scripts/run-ts.mjs';

const option = (name, fallback) => {
  const found = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
};
const rounds = Number(option('rounds', '3'));
const warmUp = Number(option('warm-up', '300'));
const messages = Number(option('messages', '1000'));
const mode = option('mode', 'concurrent');
if (!['concurrent', 'one-by-one', 'calls'].includes(mode)) {
  console.error(`--mode must be concurrent, one-by-one or calls; got ${mode}.`);
  process.exit(2);
}
const out = option('out', join(ROOT, 'bench', 'results', 'observability'));
for (const [name, value] of Object.entries({ rounds, warmUp, messages })) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer; got ${value}.`);
    process.exit(2);
  }
}

const require = createRequire(join(ROOT, 'package.json'));
const CHILD = join(ROOT, 'bench', 'scenarios', 'telemetry-instructions.child.ts');
const VARIANTS = ['none', 'api', 'sdk'];

/** The `summary:` (or `totals:`) line of a callgrind dump: the instructions it counted. */
function instructionsOf(file) {
  const match = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`${file} holds no callgrind summary line.`);
  return Number(match[1]);
}

function runOnce(variant, work) {
  const dir = mkdtempSync(join(work, `${variant}-`));
  const args = [
    '--tool=callgrind',
    '--dump-before=node::credentials::GetEGid*',
    `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
    process.execPath,
    '-r',
    require.resolve('@swc-node/register'),
    CHILD,
    variant,
    String(warmUp),
    String(messages),
    join(dir, 'db'),
    ...(mode === 'concurrent' ? [] : [mode]),
  ];
  mkdirSync(join(dir, 'db'));
  const tsconfig = join(ROOT, 'tsconfig.json');
  const child = spawn('valgrind', args, {
    cwd: ROOT,
    env: { ...process.env, SWC_NODE_PROJECT: tsconfig, TS_NODE_PROJECT: tsconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', (error) =>
      reject(
        new Error(`valgrind could not be started (${error.message}); install it (Debian: apt-get install valgrind).`),
      ),
    );
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`the ${variant} run exited with ${code}: ${stderr.slice(-2000)}`);
        const report = JSON.parse(stdout.trim().split('\n').pop());
        // Dumps: .1 up to the first mark (start-up and warm-up), .2 the measured window, then the rest at exit.
        const parts = readdirSync(dir).filter((name) => /^callgrind\.out\.\d+$/.test(name));
        const measured = parts.find((name) => name.endsWith('.2'));
        if (!measured) throw new Error(`no dump of the measured window in ${dir}: ${parts.join(', ')}`);
        resolve({ ...report, instructions: instructionsOf(join(dir, measured)) });
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
const sd = (values) => {
  const m = mean(values);
  return Math.sqrt(values.reduce((sum, value) => sum + (value - m) ** 2, 0) / Math.max(1, values.length - 1));
};
// Two-sided 95% Student t quantiles by degrees of freedom.
const T95 = [NaN, 12.71, 4.3, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23];
const t95 = (df) => T95[df] ?? 1.96;

function writeResults(completed) {
  const per = (variant) => runs.filter((run) => run.variant === variant).map((run) => run.perMessage);
  const none = per('none');
  const api = per('api');
  const sdk = per('sdk');
  // Paired by round: both variants of a round ran next to each other.
  const differences = api.map((value, index) => value / none[index] - 1);
  const overhead = mean(differences);
  const halfWidth =
    differences.length > 1 ? (t95(differences.length - 1) * sd(differences)) / Math.sqrt(differences.length) : NaN;
  const result = {
    runAt: new Date().toISOString(),
    machine: {
      cpus: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
    },
    method: `valgrind --tool=callgrind, instructions between two marks around ${messages} messages ${{ concurrent: 'sent by 16 concurrent publishers', 'one-by-one': 'sent one by one (each after the last was handled)', calls: "worth of the framework's telemetry calls alone (create, send, relay rows, commit to send, process)" }[mode]}, after a ${warmUp}-message warm-up, ${completed} of ${rounds} rounds completed, the variants of a round side by side`,
    node: process.version,
    perMessage: { none: Math.round(mean(none)), api: Math.round(mean(api)), sdk: Math.round(mean(sdk)) },
    // CPU work alone: the SDK run's instructions per message against the run without an SDK. The messages per second
    // of scenario 12 also wait for each business transaction's fsync, which costs no instruction.
    sdkOverApi: mean(sdk.map((value, index) => value / api[index])),
    overhead,
    overheadCi95: [overhead - halfWidth, overhead + halfWidth],
    target: 0.02,
    // Met only when the whole interval lies under the target; one round gives no interval, so no verdict.
    pass: Number.isNaN(halfWidth) ? null : overhead + halfWidth <= 0.02,
    runs,
  };
  mkdirSync(out, { recursive: true });
  const stem = mode === 'concurrent' ? 'instructions' : `instructions-${mode}`;
  writeFileSync(join(out, `${stem}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const pct = (value) => `${(value * 100).toFixed(2)}%`;
  const lines = [
    '# Instructions per message: no telemetry, the OpenTelemetry API without an SDK, the Node SDK',
    '',
    `Run at ${result.runAt}; ${result.machine.cpus}, Node ${result.node}. How and why: [bench/README.md](../../README.md), scenario 12.`,
    '',
    `Method: ${result.method}.`,
    '',
    '| Variant | Instructions per message (mean) | Rounds |',
    '|---|---:|---|',
    `| API unresolvable (no telemetry) | ${result.perMessage.none.toLocaleString('en-US')} | ${none.map((value) => Math.round(value).toLocaleString('en-US')).join(', ')} |`,
    `| API loaded, no SDK | ${result.perMessage.api.toLocaleString('en-US')} | ${api.map((value) => Math.round(value).toLocaleString('en-US')).join(', ')} |`,
    `| Node SDK (spans exported, metrics not scraped) | ${result.perMessage.sdk.toLocaleString('en-US')} | ${sdk.map((value) => Math.round(value).toLocaleString('en-US')).join(', ')} |`,
    '',
    `With the Node SDK a message costs ${result.sdkOverApi.toFixed(2)}× the instructions it costs without one.`,
    '',
    `Overhead of the API without an SDK: **${pct(overhead)}** (95% interval ${Number.isNaN(halfWidth) ? 'n/a' : `${pct(result.overheadCi95[0])} to ${pct(result.overheadCi95[1])}`}), target ≤ 2%: **${result.pass === null ? 'not resolved with one round' : result.pass ? 'pass' : 'MISS'}**.`,
    '',
  ];
  writeFileSync(join(out, `${stem}.md`), lines.join('\n'));
  console.error(lines.join('\n'));
}

const work = mkdtempSync(join(tmpdir(), 'rmq-telemetry-instructions-'));
const runs = [];
try {
  for (let round = 1; round <= rounds; round += 1) {
    const started = Date.now();
    const results = await Promise.all(VARIANTS.map((variant) => runOnce(variant, work)));
    for (const run of results) {
      if (run.apiLoaded !== (run.variant !== 'none')) {
        throw new Error(`the ${run.variant} run ${run.apiLoaded ? 'could' : 'could not'} resolve @opentelemetry/api`);
      }
      runs.push({ round, ...run, perMessage: run.instructions / messages });
      console.error(
        `round ${round}/${rounds} ${run.variant.padEnd(4)} ${Math.round(run.instructions / messages).toLocaleString('en-US')} instructions/message (${Math.round((Date.now() - started) / 1000)} s)`,
      );
    }
    // After every round: a run cut short still leaves the rounds it completed, marked as such.
    writeResults(round);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
