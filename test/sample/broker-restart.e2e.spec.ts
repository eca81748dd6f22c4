import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildSupervisor } from '../../apps/sample/child-supervisor';
import { freePort } from '../support/free-port';
import { request } from './sample-harness';
import { runScript, waitForOutput, type ScriptRun } from './script-run';

/**
 * `npm start` supervises the broker process: SIGKILLed, it is restarted on the same port and data while the services
 * keep taking orders (they wait in the outbox), and every order is paid once it is back; a broker that keeps dying
 * makes `npm start` give up with code 1 and the reason. Real processes, killed by the pids `npm start` prints.
 */

const children = new ChildSupervisor();
const pidsToReap: number[] = [];
const dirs: string[] = [];
afterEach(async () => {
  // SIGTERM lets `npm start` stop its parts in order; SIGKILL after a bound.
  await children.stopAll(30_000);
  // The parts of a run that failed half-way (a passing test has cleared this list): only the pids this test read
  // from its own `npm start`'s output.
  for (const pid of pidsToReap.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function startSample(
  extra: Record<string, string> = {},
): Promise<{ run: ScriptRun; orderUrl: string; paymentUrl: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-broker-restart-'));
  dirs.push(dataDir);
  const [orderPort, paymentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
  const run = runScript(
    'start.mjs',
    {
      ORDER_PORT: String(orderPort),
      PAYMENT_PORT: String(paymentPort),
      CONSOLE_PORT: String(consolePort),
      // Any free port: a restart must come back on the one the first broker got.
      BROKER_PORT: '0',
      DATA_DIR: dataDir,
      PAYMENT_RETRY_DELAYS: '50ms 100ms',
      ...extra,
    },
    children,
  );
  await waitForOutput(run, 'Ctrl+C stops', 60_000, 'both');
  for (const match of run.all().matchAll(/ {4}pid (\d+)/g)) pidsToReap.push(Number(match[1]));
  return { run, orderUrl: `http://127.0.0.1:${orderPort}`, paymentUrl: `http://127.0.0.1:${paymentPort}` };
}

function brokerPidOf(output: string): number {
  const line = /broker {11}reliable-mq:\/\/127\.0\.0\.1:(\d+) .* {4}pid (\d+)/.exec(output);
  expect(line, output).not.toBeNull();
  return Number(line![2]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function placeOrder(orderUrl: string, amount: number): Promise<string> {
  const placed = await request<{ id: string }>('POST', `${orderUrl}/orders`, {
    customerId: 'c-restart',
    amount,
    card: '4242424242424242',
  });
  expect(placed.status, JSON.stringify(placed.body)).toBe(201);
  return placed.body.id;
}

describe('npm start restarts a broker process that died', () => {
  it('SIGKILLed, the broker comes back on the same port and data; orders placed meanwhile are all paid once', async () => {
    const { run, orderUrl, paymentUrl } = await startSample();
    const brokerUrl = /broker {11}(reliable-mq:\/\/127\.0\.0\.1:\d+)/.exec(run.all())![1]!;
    const firstPid = brokerPidOf(run.all());
    expect(run.all()).toContain(
      'Should the broker die, it is restarted on the same port and data (up to 5 restarts in 1 min)',
    );

    const before = [await placeOrder(orderUrl, 10), await placeOrder(orderUrl, 11)];

    process.kill(firstPid, 'SIGKILL');
    await waitForOutput(run, 'broker exited (SIGKILL); restarting in 0.5 s (restart 1)', 10_000, 'both');
    // The order service keeps taking orders while the broker is away: they wait in its outbox.
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(await placeOrder(orderUrl, 20 + i));
    const outageCovered = !run.all().includes('broker is back on');

    const back = await waitForOutput(run, /broker is back on (\S+) {4}pid (\d+) \(restart 1\)/, 60_000, 'both');
    expect(back[1]).toBe(brokerUrl);
    const secondPid = Number(back[2]);
    pidsToReap.push(secondPid);
    expect(secondPid).not.toBe(firstPid);
    expect(isRunning(secondPid)).toBe(true);
    expect(isRunning(firstPid)).toBe(false);
    // All of them went in before the restarted broker was ready.
    expect(outageCovered, run.all()).toBe(true);

    const after = [await placeOrder(orderUrl, 30)];
    const all = [...before, ...during, ...after];
    const deadline = Date.now() + 60_000;
    for (const id of all) {
      for (;;) {
        const order = await request<{ status: string }>('GET', `${orderUrl}/orders/${id}`);
        if (order.body.status === 'PAID') break;
        expect(Date.now(), `order ${id} is ${order.body.status}, not PAID, 60 s after the restart`).toBeLessThan(
          deadline,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const payments = await request<{ items: Array<{ status: string }> }>(
        'GET',
        `${paymentUrl}/payments?orderId=${id}`,
      );
      expect(payments.body.items, `payments of order ${id}`).toEqual([
        expect.objectContaining({ status: 'SUCCEEDED' }),
      ]);
    }
    expect(run.child.exitCode).toBeNull();

    // A second death within the window waits twice as long; SIGTERM during that wait stops everything cleanly.
    process.kill(secondPid, 'SIGKILL');
    await waitForOutput(run, 'broker exited (SIGKILL); restarting in 1 s (restart 2)', 10_000, 'both');
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.all()).toContain('Stopped.');
    expect(run.all()).not.toMatch(/broker is back on .*\(restart 2\)/);
    for (const pid of pidsToReap) expect(isRunning(pid), `pid ${pid} still runs`).toBe(false);
    pidsToReap.length = 0;
  }, 240_000);

  it('gives up with code 1 and the reason when the broker keeps dying', async () => {
    const { run } = await startSample({ SAMPLE_BROKER_RESTARTS: '1 in 60s' });
    expect(run.all()).toContain('(up to 1 restart in 1 min)');
    const firstPid = brokerPidOf(run.all());
    process.kill(firstPid, 'SIGKILL');
    const back = await waitForOutput(run, /broker is back on \S+ {4}pid (\d+) \(restart 1\)/, 60_000, 'both');
    const secondPid = Number(back[1]);
    pidsToReap.push(secondPid);
    process.kill(secondPid, 'SIGKILL');

    const ended = await Promise.race([
      run.exited,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000)),
    ]);
    expect(ended, run.all()).toEqual({ code: 1, signal: null });
    expect(run.all()).toContain(
      'The broker exited (SIGKILL) again and will not be restarted: it was restarted once within 1 min ' +
        '(the limit is 1 restart in 1 min): stopping the console, the services, then the broker...',
    );
    expect(run.all()).not.toContain('(restart 2)');
    for (const pid of pidsToReap) expect(isRunning(pid), `pid ${pid} still runs`).toBe(false);
    pidsToReap.length = 0;
  }, 180_000);
});
