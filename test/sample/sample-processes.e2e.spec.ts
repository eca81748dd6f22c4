import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startSampleProcesses, type SampleProcesses } from '../../apps/sample/sample-processes';
import { BrokerProcess } from '../support/broker-process';
import { waitUntil } from '../support/wait-until';

/**
 * The sample as separate processes: the broker (apps/broker), the order service and the payment service, each its
 * own Node process, the services on the remote transport. An order placed over HTTP is paid through the broker; the
 * broker is then SIGKILLed and started again on the same data, and the next order is paid too, with the services
 * still running (they reconnected and resubscribed).
 */

const root = mkdtempSync(join(tmpdir(), 'rmq-sample-processes-'));
const TOKEN = 'sample-processes-token';
let sample: SampleProcesses | undefined;
let restarted: BrokerProcess | undefined;
const output: string[] = [];

afterAll(async () => {
  await sample?.close();
  await restarted?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function placeOrder(orderUrl: string, amount: number): Promise<string> {
  const response = await fetch(`${orderUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customerId: 'c-1', amount, card: '4242424242424242' }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function statusOf(orderUrl: string, id: string): Promise<string> {
  const response = await fetch(`${orderUrl}/orders/${id}`);
  return ((await response.json()) as { status: string }).status;
}

it('pays orders across three processes, and again after the broker process is SIGKILLed and restarted', async () => {
  sample = await startSampleProcesses({
    dataDir: root,
    orderPort: 0,
    paymentPort: 0,
    brokerPort: 0,
    brokerToken: TOKEN,
    env: { BROKER_ENGINE_OPTIONS: JSON.stringify({ minFreeDiskBytes: 0 }), NO_COLOR: '1' },
    output: (line) => output.push(line),
  });
  const pids = new Set(Object.values(sample.pids));
  expect(pids.size).toBe(3);
  expect(pids.has(process.pid)).toBe(false);

  const first = await placeOrder(sample.orderUrl, 42.5);
  await waitUntil(
    async () => (await statusOf(sample!.orderUrl, first)) === 'PAID',
    'the first order to be paid',
    20_000,
    100,
  );

  const port = Number(new URL(sample.brokerUrl!).port);
  process.kill(sample.pids.broker!, 'SIGKILL');
  await waitUntil(
    () => output.some((line) => /Lost the broker connection/.test(line)),
    'the services to notice',
    10_000,
  );
  restarted = await BrokerProcess.start({ dataDir: join(root, 'broker'), port, token: TOKEN });
  await waitUntil(
    () => output.filter((line) => /Reconnected to the broker/.test(line)).length >= 2,
    'both services to reconnect',
    20_000,
    100,
  );

  const second = await placeOrder(sample.orderUrl, 17);
  await waitUntil(
    async () => (await statusOf(sample!.orderUrl, second)) === 'PAID',
    'the second order to be paid',
    20_000,
    100,
  );
  expect(await statusOf(sample.orderUrl, first)).toBe('PAID');
}, 120_000);
