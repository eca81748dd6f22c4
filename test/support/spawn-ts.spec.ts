import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, spawnTs } from './spawn-ts';

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<ChildResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const FIXTURE = 'test/support/fixtures/alias-child.fixture.ts';

describe('spawnTs', () => {
  it('runs a TypeScript child that imports through the @reliable-mq alias and emits decorator metadata', async () => {
    const result = await collect(spawnTs(FIXTURE, ['first', 'second']));

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      argv: ['first', 'second'],
      cwd: REPO_ROOT,
      probe: null,
      errorName: 'InvalidNameError',
      errorCode: 'INVALID_NAME',
      paramTypes: ['Dependency'],
    });
  });

  it('works from another working directory and passes extra environment through', async () => {
    const result = await collect(spawnTs(FIXTURE, [], { cwd: os.tmpdir(), env: { RELIABLE_MQ_PROBE: '1' } }));

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      cwd: await fs.realpath(os.tmpdir()),
      probe: '1',
      errorName: 'InvalidNameError',
    });
  });

  it('gives back a real process that SIGKILL ends', async () => {
    const child = spawnTs(FIXTURE, [], { stdio: 'ignore' });
    const done = collect(child);
    child.kill('SIGKILL');
    const result = await done;

    expect(result.signal).toBe('SIGKILL');
  });
});
