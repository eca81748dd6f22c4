import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/spawn-ts';

/**
 * Keeps the benchmark harness from rotting without running a benchmark: one tiny scenario and its baseline, in
 * `--smoke` mode, through the same entry point as `npm run bench`. It checks the shape of what is written, never a
 * speed.
 */
const out = mkdtempSync(join(tmpdir(), 'rmq-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runHarness(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bench', 'run.mjs'), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 18_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('benchmark harness (smoke)', () => {
  it('runs one scenario and its baseline and writes results of the documented shape', async () => {
    const { code, stderr } = await runHarness([
      '--smoke',
      '--only=limit.full.tx1,engine.publish.sync.c1',
      `--out=${out}`,
    ]);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/\[1\/2\] limit\.full\.tx1/);
    expect(stderr).toMatch(/\[2\/2\] engine\.publish\.sync\.c1/);

    const results = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(Object.keys(results)).toEqual(expect.arrayContaining(['machine', 'runAt', 'scenarios']));
    expect(new Date(results.runAt).toISOString()).toBe(results.runAt);
    expect(results.machine).toMatchObject({
      cores: expect.any(Number),
      memoryGiB: expect.any(Number),
      node: process.version,
      disk: expect.any(String),
    });
    expect(results.scenarios.map((s: { name: string }) => s.name)).toEqual([
      'limit.full.tx1',
      'engine.publish.sync.c1',
    ]);
    for (const scenario of results.scenarios) {
      expect(Object.keys(scenario)).toEqual(
        expect.arrayContaining(['name', 'msgsPerSec', 'p50Ms', 'p99Ms', 'baseline', 'ratio']),
      );
      expect(scenario.msgsPerSec).toBeGreaterThan(0);
      expect(scenario.p99Ms).toBeGreaterThanOrEqual(scenario.p50Ms);
    }
    const [limit, engine] = results.scenarios;
    expect(limit).toMatchObject({ baseline: null, ratio: null });
    expect(engine.baseline).toBe('limit.full.tx1');
    expect(engine.ratio).toBeCloseTo(engine.msgsPerSec / limit.msgsPerSec, 2);
    expect(results.targets.map((t: { id: string }) => t.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);

    const markdown = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(markdown).toContain('| # | Scenario |');
    expect(markdown).toContain('`engine.publish.sync.c1`');
    expect(markdown).toContain('throughput.svg');
    for (const chart of ['throughput.svg', 'latency.svg']) {
      expect(existsSync(join(out, chart))).toBe(true);
      expect(readFileSync(join(out, chart), 'utf8')).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    }
  }, 20_000);
});
