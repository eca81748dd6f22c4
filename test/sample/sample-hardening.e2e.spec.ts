import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientOp, FrameType } from '@reliable-mq/protocol';
import { startSampleProcesses, type SampleProcesses } from '../../apps/sample/sample-processes';
import { demoPassword, writeDemoUsersFile } from '../../apps/sample/sample-console';
import { RawBrokerClient } from '../support/raw-broker-client';
import { waitUntil } from '../support/wait-until';

/**
 * The sample as `npm start` runs it (broker, order service, payment service and console, each its own process),
 * started under the most permissive umask there is: every file it writes must still be its owner's alone. Then a
 * producer on the network, holding the broker token, sends a message whose id and key are built to forge log lines;
 * the services' output keeps each line one line, with no terminal escape in it.
 */

const root = mkdtempSync(join(tmpdir(), 'rmq-sample-hardening-'));
const dataDir = join(root, 'data');
const TOKEN = 'sample-hardening-token';
let sample: SampleProcesses | undefined;
const output: string[] = [];
let umask: number;

beforeAll(async () => {
  umask = process.umask(0);
  const usersFile = await writeDemoUsersFile(dataDir, demoPassword(dataDir, undefined));
  sample = await startSampleProcesses({
    dataDir,
    orderPort: 0,
    paymentPort: 0,
    brokerPort: 0,
    brokerToken: TOKEN,
    retryDelays: '50ms',
    console: { port: 0, usersFile },
    env: { BROKER_ENGINE_OPTIONS: JSON.stringify({ minFreeDiskBytes: 0 }), NO_COLOR: '1' },
    output: (line) => output.push(line),
  });
}, 120_000);

afterAll(async () => {
  process.umask(umask);
  await sample?.close();
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('the sample under npm start', () => {
  it('keeps every database, WAL, store and secret file to its owner (0600, folders 0700), even with umask 000', async () => {
    const order = await fetch(`${sample!.orderUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-1', amount: 12.5, card: '4242424242424242' }),
    });
    expect(order.status).toBe(201);
    const { id } = (await order.json()) as { id: string };
    await waitUntil(
      async () =>
        ((await (await fetch(`${sample!.orderUrl}/orders/${id}`)).json()) as { status: string }).status === 'PAID',
      'the order to be paid',
      20_000,
      100,
    );
    const folders = [dataDir, join(dataDir, 'broker'), join(dataDir, 'console')];
    const files = folders.flatMap((folder) =>
      readdirSync(folder, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(folder, entry.name)),
    );
    const modes = Object.fromEntries(
      [...folders, ...files].map((path) => [path.slice(dataDir.length) || '/', modeOf(path)]),
    );
    console.log(`Modes under umask 000: ${JSON.stringify(modes)}`);
    // What must be there: the three SQLite databases in WAL mode and the console's store, with their -wal and -shm.
    for (const name of [
      'orders.sqlite',
      'orders.sqlite-wal',
      'payments.sqlite-shm',
      'broker/broker.sqlite-wal',
      'console/console.sqlite',
      'console/users.json',
      'console/demo-password',
      'ops-token',
    ])
      expect(modes, name).toHaveProperty(`/${name}`);
    for (const folder of folders) expect(modeOf(folder), folder).toBe('700');
    for (const file of files) expect(modeOf(file), file).toBe('600');
  });

  it('escapes what a producer puts into message ids and keys, in the framework and the service lines alike', async () => {
    const marker = randomUUID().slice(0, 8);
    const forged = '[Nest] 1  - 01/01/2030, 00:00:00     LOG [ChargeOrderConsumer] Order paid';
    const hostile = await RawBrokerClient.open(Number(new URL(sample!.brokerUrl!).port), TOKEN);
    try {
      const answer = await hostile.call(ClientOp.PUBLISH, {
        messages: [
          {
            id: `${marker}-id\n${forged}\u001b[2J`,
            key: `${marker}-key\r\n${forged}\u001b]0;owned\u0007`,
            topic: 'order.created',
            body: Buffer.from(JSON.stringify({ orderId: 'not-a-uuid', customerId: 'c', amount: 1, card: '1' })),
          },
        ],
      });
      expect(answer.t).toBe(FrameType.RESPONSE);
    } finally {
      hostile.destroy();
    }
    // It fails validation, reaches the DLQ, and an operator resends it: the service logs the letter's key.
    let letterId: number | undefined;
    await waitUntil(
      async () => {
        const page = (await (await fetch(`${sample!.paymentUrl}/ops/dead-letters?limit=500`)).json()) as {
          items: Array<{ id: number; orderId: string | null }>;
        };
        letterId = page.items.find((item) => item.orderId?.startsWith(`${marker}-key`))?.id;
        return letterId !== undefined;
      },
      'the forged message in the DLQ',
      20_000,
      100,
    );
    const resent = await fetch(`${sample!.paymentUrl}/ops/dead-letters/${letterId}/resend`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sample!.opsToken}` },
      body: '{}',
    });
    expect(resent.status).toBe(202);
    await waitUntil(
      () => output.some((line) => line.includes(`Dead letter ${letterId} (order ${marker}-key`)),
      'the resend line',
      10_000,
    );
    const quoting = output.filter((line) => line.includes(marker));
    console.log(`The services logged:\n  ${quoting.join('\n  ')}`);
    expect(quoting.some((line) => line.includes(`${marker}-id\\n${forged}\\x1b[2J`))).toBe(true);
    expect(quoting.some((line) => line.includes(`${marker}-key\\r\\n${forged}\\x1b]0;owned\\x07`))).toBe(true);
    // No line of any part starts with the forged text, and no part wrote a terminal escape.
    expect(output.filter((line) => line.includes('01/01/2030') && !line.includes(marker))).toEqual([]);
    // eslint-disable-next-line no-control-regex
    expect(output.filter((line) => /[\u0000-\u0008\u000b-\u001f\u007f]/.test(line))).toEqual([]);
  });
});
