import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChildSupervisor } from '../../apps/sample/child-supervisor';
import { REPO_ROOT } from '../support/spawn-ts';
import { freePort } from '../support/free-port';
import { request } from './sample-harness';
import { runScript, waitForOutput, waitForStatus } from './script-run';

const children = new ChildSupervisor();
const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await children.stopAll(0, 'SIGKILL');
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-start-'));
  dirs.push(dir);
  return dir;
}

/** The two ways to run the sample with one command. */
const MODES = [
  { name: 'npm start (separate processes against the broker process)', script: 'start.mjs', command: 'npm start' },
  { name: 'npm run start:embedded (one process)', script: 'start-embedded.mjs', command: 'npm run start:embedded' },
] as const;

async function logInToConsole(
  output: string,
  consolePort: number,
): Promise<{ url: string; cookie: string; csrf: string; password: string }> {
  const consoleLine = new RegExp(
    `console {10}(http://127\\.0\\.0\\.1:${consolePort}/console) {4}log in as demo / (\\S+)`,
  ).exec(output);
  expect(consoleLine, output).not.toBeNull();
  const url = consoleLine![1]!;
  expect((await request('GET', `${url}/api/overview`)).status).toBe(401);
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'demo', password: consoleLine![2] }),
  });
  expect(login.status).toBe(200);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  return { url, cookie: login.headers.get('set-cookie')!.split(';')[0]!, csrf: csrfToken, password: consoleLine![2]! };
}

describe('npm start', () => {
  it('is wired in package.json: npm start runs the processes, start:embedded the single process', () => {
    const scripts = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts).toMatchObject({
      start: 'node scripts/start.mjs',
      'start:processes': 'node scripts/start.mjs',
      'start:embedded': 'node scripts/start-embedded.mjs',
      demo: 'node scripts/demo.mjs',
      dlq: 'node scripts/dlq.mjs',
    });
    expect(readFileSync(join(REPO_ROOT, 'scripts', 'start.mjs'), 'utf8')).toContain(
      "runTs('apps/sample/start-processes.ts')",
    );
    expect(readFileSync(join(REPO_ROOT, 'scripts', 'start-embedded.mjs'), 'utf8')).toContain(
      "runTs('apps/sample/start-embedded.ts')",
    );
  });

  it('runs the broker, both services and the console as four processes; an order gets PAID; the console fixes a declined one', async () => {
    const cwd = tempDir();
    const [orderPort, paymentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
    // No DATA_DIR: the data must land in ./data of the working directory. BROKER_PORT=0: any free port.
    const sample = runScript(
      'start.mjs',
      {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(paymentPort),
        CONSOLE_PORT: String(consolePort),
        BROKER_PORT: '0',
        PAYMENT_RETRY_DELAYS: '50ms 100ms',
      },
      children,
      cwd,
    );
    await waitForOutput(sample, 'Ctrl+C stops');
    const output = sample.output();
    const orderUrl = `http://127.0.0.1:${orderPort}`;
    expect(output).toContain(
      'ReliableMQ sample is running as four processes against the broker process (data in ./data).',
    );
    const brokerLine =
      /broker {11}(reliable-mq:\/\/127\.0\.0\.1:\d+) {4}health (http:\/\/127\.0\.0\.1:\d+)\/health, \/ready {4}pid (\d+)/.exec(
        output,
      );
    expect(brokerLine, output).not.toBeNull();
    expect((await fetch(`${brokerLine![2]}/ready`)).status).toBe(200);
    const pids = [...output.matchAll(/ {4}pid (\d+)/g)].map((match) => Number(match[1]));
    expect(new Set(pids).size).toBe(4);
    expect(pids).not.toContain(sample.child.pid);
    expect(output).toMatch(new RegExp(`order service {4}${orderUrl} .* pid \\d+`));
    expect(output).toMatch(new RegExp(`payment service  http://127\\.0\\.0\\.1:${paymentPort} .* pid \\d+`));
    expect(output).toContain(
      `curl -s -X POST ${orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
    );
    const consoleSession = await logInToConsole(output, consolePort);
    expect(readFileSync(join(cwd, 'data', 'console', 'demo-password'), 'utf8').trim()).toBe(consoleSession.password);

    const placed = await request<{ id: string; status: string }>(
      'POST',
      `${orderUrl}/orders`,
      '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}',
    );
    expect(placed.status).toBe(201);
    await waitForStatus(orderUrl, placed.body.id, 'PAID');
    for (const file of ['orders.sqlite', 'payments.sqlite', 'broker', 'console'])
      expect(existsSync(join(cwd, 'data', file))).toBe(true);

    // The standalone console works on the broker process: a declined order's letter, fixed and retried there.
    const auth = { cookie: consoleSession.cookie, 'x-csrf-token': consoleSession.csrf };
    const declined = await request<{ id: string }>('POST', `${orderUrl}/orders`, {
      customerId: 'c-2',
      amount: 12.5,
      card: '4000000000000002',
    });
    let letter: { id: number; payload: { json: Record<string, unknown> } } | undefined;
    const deadline = Date.now() + 30_000;
    while (!letter) {
      expect(Date.now(), 'the declined order never reached the DLQ').toBeLessThan(deadline);
      const page = await request<{ items: Array<{ id: number }> }>(
        'GET',
        `${consoleSession.url}/api/dead-letters?group=payment-service&key=${declined.body.id}`,
        undefined,
        auth,
      );
      if (page.body.items[0]) {
        letter = (
          await request<{ id: number; payload: { json: Record<string, unknown> } }>(
            'GET',
            `${consoleSession.url}/api/dead-letters/${page.body.items[0].id}`,
            undefined,
            auth,
          )
        ).body;
      } else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // This console knows no handler classes: the payment service, a live consumer of the group, checks the edit with
    // its DTO through the broker, and a mistyped card is refused with the DTO's message before anything is sent.
    const mistyped = await request<{ code: string; message: string; validation: string }>(
      'POST',
      `${consoleSession.url}/api/dead-letters/${letter.id}/retry`,
      { payload: { ...letter.payload.json, card: '4242-4242-4242' }, reason: 'typo' },
      auth,
    );
    expect(mistyped.status, JSON.stringify(mistyped.body)).toBe(422);
    expect(mistyped.body).toMatchObject({ code: 'EDIT_INVALID', validation: 'dto:OrderCreatedDto' });
    expect(mistyped.body.message).toContain('card must be a card number of 12 to 19 digits');
    const stillDead = await request<{ status: string }>(
      'GET',
      `${consoleSession.url}/api/dead-letters/${letter.id}`,
      undefined,
      auth,
    );
    expect(stillDead.body.status).toBe('dead');
    const retried = await request(
      'POST',
      `${consoleSession.url}/api/dead-letters/${letter.id}/retry`,
      { payload: { ...letter.payload.json, card: '4242424242424242' }, reason: 'new card' },
      auth,
    );
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    await waitForStatus(orderUrl, declined.body.id, 'PAID');
    const overview = await request<{ broker: { statsAvailable: boolean }; transactions: { supported: boolean } }>(
      'GET',
      `${consoleSession.url}/api/overview`,
      undefined,
      auth,
    );
    expect(overview.body.broker.statsAvailable).toBe(true);
    expect(overview.body.transactions.supported).toBe(true);

    // A second run on the same ports is refused with a sentence that names the setting to change.
    const clash = runScript(
      'start.mjs',
      {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(await freePort()),
        CONSOLE_PORT: String(await freePort()),
        BROKER_PORT: '0',
        DATA_DIR: join(tempDir(), 'data'),
      },
      children,
    );
    expect((await clash.exited).code).toBe(1);
    expect(clash.errors()).toContain(
      `The sample could not start: Port ${orderPort} (order service) is already in use. Stop what listens there, or choose another port: ORDER_PORT=<port> npm start`,
    );
    const brokerPort = Number(new URL(brokerLine![1]!).port);
    const brokerClash = runScript(
      'start.mjs',
      {
        ORDER_PORT: String(await freePort()),
        PAYMENT_PORT: String(await freePort()),
        CONSOLE_PORT: String(await freePort()),
        BROKER_PORT: String(brokerPort),
        DATA_DIR: join(tempDir(), 'data'),
      },
      children,
    );
    expect((await brokerClash.exited).code).toBe(1);
    expect(brokerClash.errors()).toContain(`(broker, health) is already in use.`);
    expect(brokerClash.errors()).toContain('BROKER_PORT=<port> npm start');

    sample.child.kill('SIGINT');
    expect(await sample.exited).toEqual({ code: 0, signal: null });
    expect(sample.output()).toContain('Stopped.');
    // Every part stopped with it.
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 180_000);

  it('npm run start:embedded starts both services and the console in one process, prints the URLs, serves orders, and stops on SIGINT', async () => {
    const cwd = tempDir();
    const [orderPort, paymentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
    const sample = runScript(
      'start-embedded.mjs',
      {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(paymentPort),
        CONSOLE_PORT: String(consolePort),
        PAYMENT_RETRY_DELAYS: '50ms 100ms',
      },
      children,
      cwd,
    );
    await waitForOutput(sample, 'Ctrl+C stops');
    const orderUrl = `http://127.0.0.1:${orderPort}`;
    expect(sample.output()).toContain('ReliableMQ sample is running on the embedded broker (data in ./data).');
    expect(sample.output()).toContain(`order service    ${orderUrl}`);
    expect(sample.output()).toContain(`payment service  http://127.0.0.1:${paymentPort}`);
    const consoleSession = await logInToConsole(sample.output(), consolePort);
    expect(readFileSync(join(cwd, 'data', 'console', 'demo-password'), 'utf8').trim()).toBe(consoleSession.password);
    expect(sample.output()).toContain(
      `curl -s -X POST ${orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
    );

    const placed = await request<{ id: string; status: string }>(
      'POST',
      `${orderUrl}/orders`,
      '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}',
    );
    expect(placed.status).toBe(201);
    expect(placed.body.status).toBe('PENDING');
    await waitForStatus(orderUrl, placed.body.id, 'PAID');
    for (const file of ['orders.sqlite', 'payments.sqlite', 'broker'])
      expect(existsSync(join(cwd, 'data', file))).toBe(true);

    const clash = runScript(
      'start-embedded.mjs',
      {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(await freePort()),
        CONSOLE_PORT: String(await freePort()),
        DATA_DIR: join(tempDir(), 'data'),
      },
      children,
    );
    expect((await clash.exited).code).toBe(1);
    expect(clash.errors()).toContain(
      `Port ${orderPort} (order service) is already in use. Stop what listens there, or choose another port: ORDER_PORT=<port> npm run start:embedded`,
    );

    const consoleClash = runScript(
      'start-embedded.mjs',
      {
        ORDER_PORT: String(await freePort()),
        PAYMENT_PORT: String(await freePort()),
        CONSOLE_PORT: String(consolePort),
        DATA_DIR: join(tempDir(), 'data'),
      },
      children,
    );
    expect((await consoleClash.exited).code).toBe(1);
    expect(consoleClash.errors()).toContain(
      `Port ${consolePort} (console) is already in use. Stop what listens there, or choose another port: CONSOLE_PORT=<port> npm run start:embedded`,
    );

    sample.child.kill('SIGINT');
    expect(await sample.exited).toEqual({ code: 0, signal: null });
    expect(sample.output()).toContain('Stopped.');
  }, 120_000);

  for (const mode of MODES) {
    it(`${mode.command} refuses bad settings with one sentence each, and lists the settings`, async () => {
      const sample = runScript(
        mode.script,
        {
          ORDER_PORT: 'http',
          PAYMENT_PORT: '70000',
          CONSOLE_PORT: 'console',
          PAYMENT_RETRY_DELAYS: 'soon',
          DATA_DIR: join(tempDir(), 'data'),
        },
        children,
      );
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
  }

  it('npm start refuses RABBITMQ_URL without DATABASE_URL, and a port taken twice', async () => {
    const sample = runScript(
      'start.mjs',
      {
        RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672',
        BROKER_PORT: '3003',
        DATA_DIR: join(tempDir(), 'data'),
      },
      children,
    );
    expect((await sample.exited).code).toBe(2);
    expect(sample.errors()).toContain(
      'RABBITMQ_URL needs DATABASE_URL too: npm start runs the services on RabbitMQ only with their outboxes in ' +
        'PostgreSQL; set both (or neither, for the broker process with SQLite).',
    );
    expect(sample.errors()).toContain('CONSOLE_PORT and BROKER_PORT are both 3003');
  });
});

describe('npm run demo', () => {
  it('starts a sample when none runs, places a bounded mixed stream, shows the summary and stops by itself', async () => {
    const dataDir = join(tempDir(), 'data');
    const demo = runScript(
      'demo.mjs',
      {
        ORDER_PORT: String(await freePort()),
        PAYMENT_PORT: String(await freePort()),
        DATA_DIR: dataDir,
        PAYMENT_RETRY_DELAYS: '50ms 100ms',
        DEMO_ORDERS: '20',
        DEMO_RATE: '50',
        DEMO_DUPLICATES: '3',
      },
      children,
    );
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

  for (const mode of MODES) {
    it(`uses the sample that is already running (${mode.command}), and npm run dlq compensates its declined order`, async () => {
      const orderPort = await freePort();
      const paymentPort = await freePort();
      const env = {
        ORDER_PORT: String(orderPort),
        PAYMENT_PORT: String(paymentPort),
        CONSOLE_PORT: String(await freePort()),
        BROKER_PORT: '0',
        DATA_DIR: join(tempDir(), 'data'),
        PAYMENT_RETRY_DELAYS: '50ms 100ms',
      };
      const sample = runScript(mode.script, env, children);
      await waitForOutput(sample, 'Ctrl+C stops');
      const demo = runScript(
        'demo.mjs',
        { ...env, DEMO_ORDERS: '10', DEMO_RATE: '50', DEMO_DUPLICATES: '2' },
        children,
      );
      const { code } = await demo.exited;
      expect(code, `${demo.output()}\n${demo.errors()}`).toBe(0);
      expect(demo.output()).toContain(
        `Using the sample on http://127.0.0.1:${orderPort} and http://127.0.0.1:${paymentPort}.`,
      );
      expect(demo.output()).toContain(
        'placed 10/10 | paid 8 | failed 1 | in DLQ 1 | pending 0 | duplicates suppressed 2/2',
      );

      // The declined order's dead letter, compensated with the dlq script.
      const dlq = runScript('dlq.mjs', { PAYMENT_PORT: String(paymentPort) }, children);
      expect((await dlq.exited).code).toBe(0);
      const listed = /#(\d+)\s+order ([0-9a-f-]{36})\s+card 4000000000000002/.exec(dlq.output());
      expect(listed, dlq.output()).not.toBeNull();
      const resend = children.start({
        name: 'dlq resend',
        entry: join(REPO_ROOT, 'scripts', 'dlq.mjs'),
        args: ['resend', listed![1]!, '--card', '4242424242424242'],
        // DATA_DIR: where the sample keeps the operations token a resend presents.
        env: { PAYMENT_PORT: String(paymentPort), DATA_DIR: env.DATA_DIR },
      });
      expect((await resend.exited).code).toBe(0);
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
    }, 180_000);
  }
});
