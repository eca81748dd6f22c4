import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/spawn-ts';
import { request } from './sample-harness';

interface Run {
  child: ChildProcess;
  output(): string;
  errors(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-start-'));
  dirs.push(dir);
  return dir;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs a script of the repository as `npm start` / `npm run demo` would: `node scripts/<name>.mjs`. */
function run(script: string, env: Record<string, string>, cwd = REPO_ROOT): Run {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', script)], {
    cwd,
    env: { ...process.env, ...env, FORCE_COLOR: '0', NO_COLOR: '1' },
    stdio: 'pipe',
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => stdout, errors: () => stderr, exited };
}

async function waitForOutput(process: Run, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!process.output().includes(text)) {
    if (process.child.exitCode !== null)
      throw new Error(
        `Exited with ${process.child.exitCode} before printing "${text}":\n${process.output()}\n${process.errors()}`,
      );
    if (Date.now() > deadline)
      throw new Error(`"${text}" not printed within ${timeoutMs} ms:\n${process.output()}\n${process.errors()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('npm start', () => {
  it('is wired in package.json', () => {
    const scripts = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts).toMatchObject({
      start: 'node scripts/start.mjs',
      demo: 'node scripts/demo.mjs',
      dlq: 'node scripts/dlq.mjs',
    });
  });

  it('starts both services on the ports given, prints the URLs and a curl example, serves orders, and stops on SIGINT', async () => {
    const cwd = tempDir();
    const [orderPort, paymentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
    // No DATA_DIR: the data must land in ./data of the working directory.
    const sample = run(
      'start.mjs',
      {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(paymentPort),
        CONSOLE_PORT: String(consolePort),
        PAYMENT_RETRY_DELAYS: '50ms 100ms',
      },
      cwd,
    );
    await waitForOutput(sample, 'Ctrl+C stops');
    const orderUrl = `http://127.0.0.1:${orderPort}`;
    expect(sample.output()).toContain(`order service    ${orderUrl}`);
    expect(sample.output()).toContain(`payment service  http://127.0.0.1:${paymentPort}`);
    // The console, with the demo login it prints (generated once per data directory).
    const consoleLine = new RegExp(
      `console {10}(http://127\\.0\\.0\\.1:${consolePort}/console) {4}log in as demo / (\\S+)`,
    ).exec(sample.output());
    expect(consoleLine, sample.output()).not.toBeNull();
    expect((await request('GET', `${consoleLine![1]}/api/overview`)).status).toBe(401);
    const consoleLogin = await request('POST', `${consoleLine![1]}/api/auth/login`, {
      username: 'demo',
      password: consoleLine![2],
    });
    expect(consoleLogin.status).toBe(200);
    expect(readFileSync(join(cwd, 'data', 'console', 'demo-password'), 'utf8').trim()).toBe(consoleLine![2]);
    expect(sample.output()).toContain(
      `curl -s -X POST ${orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
    );

    // The curl example, as a user would paste it.
    const placed = await request<{ id: string; status: string }>(
      'POST',
      `${orderUrl}/orders`,
      '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}',
    );
    expect(placed.status).toBe(201);
    expect(placed.body.status).toBe('PENDING');
    const deadline = Date.now() + 20_000;
    while ((await request<{ status: string }>('GET', `${orderUrl}/orders/${placed.body.id}`)).body.status !== 'PAID') {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const file of ['orders.sqlite', 'payments.sqlite', 'broker'])
      expect(existsSync(join(cwd, 'data', file))).toBe(true);

    // A second process on the same ports is refused with a sentence that names the setting to change.
    const clash = run('start.mjs', {
      ORDER_PORT: String(orderPort),
      PAYMENT_PORT: String(await freePort()),
      CONSOLE_PORT: String(await freePort()),
      DATA_DIR: join(tempDir(), 'data'),
    });
    expect((await clash.exited).code).toBe(1);
    expect(clash.errors()).toContain(
      `Port ${orderPort} (order service) is already in use. Stop what listens there, or choose another port: ORDER_PORT=<port> npm start`,
    );

    const consoleClash = run('start.mjs', {
      ORDER_PORT: String(await freePort()),
      PAYMENT_PORT: String(await freePort()),
      CONSOLE_PORT: String(consolePort),
      DATA_DIR: join(tempDir(), 'data'),
    });
    expect((await consoleClash.exited).code).toBe(1);
    expect(consoleClash.errors()).toContain(
      `Port ${consolePort} (console) is already in use. Stop what listens there, or choose another port: CONSOLE_PORT=<port> npm start`,
    );

    sample.child.kill('SIGINT');
    expect(await sample.exited).toEqual({ code: 0, signal: null });
    expect(sample.output()).toContain('Stopped.');
  });

  it('refuses bad settings with one sentence each, and lists the settings', async () => {
    const sample = run('start.mjs', {
      ORDER_PORT: 'http',
      PAYMENT_PORT: '70000',
      CONSOLE_PORT: 'console',
      PAYMENT_RETRY_DELAYS: 'soon',
      DATA_DIR: join(tempDir(), 'data'),
    });
    expect((await sample.exited).code).toBe(2);
    expect(sample.errors()).toContain(
      'ORDER_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "http".',
    );
    expect(sample.errors()).toContain(
      'PAYMENT_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "70000".',
    );
    expect(sample.errors()).toContain(
      'CONSOLE_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "console".',
    );
    expect(sample.errors()).toContain('PAYMENT_RETRY_DELAYS:');
    expect(sample.errors()).toContain('DATA_DIR');
  });
});

describe('npm run demo', () => {
  it('starts a sample when none runs, places a bounded mixed stream, shows the summary and stops by itself', async () => {
    const dataDir = join(tempDir(), 'data');
    const demo = run('demo.mjs', {
      ORDER_PORT: String(await freePort()),
      PAYMENT_PORT: String(await freePort()),
      DATA_DIR: dataDir,
      PAYMENT_RETRY_DELAYS: '50ms 100ms',
      DEMO_ORDERS: '20',
      DEMO_RATE: '50',
      DEMO_DUPLICATES: '3',
    });
    const { code } = await demo.exited;
    const output = demo.output();
    expect(code, `${output}\n${demo.errors()}`).toBe(0);
    expect(output).toContain('starting one in this process');
    // Per ten: six normal, two that fail twice, one declined, one over the limit.
    expect(output).toContain('placed 20/20 | paid 16 | failed 2 | in DLQ 2 | pending 0 | duplicates suppressed 3/3');
    expect(output).toMatch(/normal card\s+12\/12\s+PAID/);
    expect(output).toMatch(/fails twice\s+4\/4\s+PAID \(after 2 retries\)/);
    expect(output).toMatch(/declined\s+2\/2\s+PENDING, in the DLQ/);
    expect(output).toMatch(/over 10,000\s+2\/2\s+FAILED/);
    expect(output).toContain('npm run dlq -- resend <id> --card 4242424242424242');
  });

  it('uses the sample that is already running', async () => {
    const orderPort = await freePort();
    const paymentPort = await freePort();
    const env = {
      ORDER_PORT: String(orderPort),
      PAYMENT_PORT: String(paymentPort),
      CONSOLE_PORT: String(await freePort()),
      DATA_DIR: join(tempDir(), 'data'),
      PAYMENT_RETRY_DELAYS: '50ms 100ms',
    };
    const sample = run('start.mjs', env);
    await waitForOutput(sample, 'Ctrl+C stops');
    const demo = run('demo.mjs', { ...env, DEMO_ORDERS: '10', DEMO_RATE: '50', DEMO_DUPLICATES: '2' });
    const { code } = await demo.exited;
    expect(code, `${demo.output()}\n${demo.errors()}`).toBe(0);
    expect(demo.output()).toContain(
      `Using the sample on http://127.0.0.1:${orderPort} and http://127.0.0.1:${paymentPort}.`,
    );
    expect(demo.output()).toContain(
      'placed 10/10 | paid 8 | failed 1 | in DLQ 1 | pending 0 | duplicates suppressed 2/2',
    );

    // The declined order's dead letter, compensated with the dlq script.
    const dlq = run('dlq.mjs', { PAYMENT_PORT: String(paymentPort) });
    expect((await dlq.exited).code).toBe(0);
    const listed = /#(\d+)\s+order ([0-9a-f-]{36})\s+card 4000000000000002/.exec(dlq.output());
    expect(listed, dlq.output()).not.toBeNull();
    const resend = spawn(
      process.execPath,
      [join(REPO_ROOT, 'scripts', 'dlq.mjs'), 'resend', listed![1]!, '--card', '4242424242424242'],
      {
        env: { ...process.env, PAYMENT_PORT: String(paymentPort) },
        stdio: 'pipe',
      },
    );
    children.push(resend);
    expect(await new Promise((resolve) => resend.once('exit', resolve))).toBe(0);
    const deadline = Date.now() + 20_000;
    while (
      (await request<{ status: string }>('GET', `http://127.0.0.1:${orderPort}/orders/${listed![2]}`)).body.status !==
      'PAID'
    ) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    sample.child.kill('SIGTERM');
    expect(await sample.exited).toEqual({ code: 0, signal: null });
  });
});
