import { expect, it } from 'vitest';
import { spawnTs } from '../support/spawn-ts';

interface Report {
  opentelemetryResolves: boolean;
  published: string;
  sent: string;
  transactional: string;
  seen: Array<{ id: string; attempt: number; headers: Record<string, string> }>;
}

it('an application without @opentelemetry/api publishes, sends, sends transactionally and consumes as before', async () => {
  const child = spawnTs('test/observability/fixtures/without-opentelemetry.app.ts', [], { env: { NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Report;
  expect(report.opentelemetryResolves).toBe(false);
  expect(report.seen.map((seen) => [seen.id, seen.attempt]).sort()).toEqual(
    [
      [report.published, 0],
      [report.published, 1],
      [report.sent, 0],
      [report.transactional, 0],
    ].sort(),
  );
  for (const seen of report.seen) expect(seen.headers.traceparent).toBeUndefined();
}, 60_000);
