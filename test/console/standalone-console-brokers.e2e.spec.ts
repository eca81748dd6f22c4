import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '@reliable-mq/engine';
import {
  RabbitMqTransport,
  RemoteTransport,
  type InboundMessage,
  type Transport,
  type TransportSubscription,
} from '@reliable-mq/nestjs';
import { hashConsolePassword } from '@reliable-mq/console';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { deleteRabbitMqObjects, listRabbitMqObjectsWithPrefix } from '../support/rabbitmq-admin';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../support/services';
import { waitUntil } from '../support/wait-until';
import { consoleStarted, freePort, logIn, runConsole } from './standalone-console-kit';

/**
 * The standalone console (`npm run console`) on each broker it can operate besides an embedded directory: the
 * standalone broker process over the remote transport, and RabbitMQ. In each, a consumer of this test process sends
 * a message to its group's DLQ; the console lists it, retries it, and the consumer gets it again and takes it.
 */

const PASSWORD = 'standalone password';
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'rmq-console-brokers-'));
const usersFile = join(dir, 'users.json');

beforeAll(async () => {
  writeFileSync(
    usersFile,
    JSON.stringify([
      { username: 'alice', passwordHash: await hashConsolePassword(PASSWORD, { cost: 10 }), role: 'operator' },
    ]),
  );
});

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Letter {
  id: number;
  group: string;
  topic: string;
  key: string | null;
  reason: string;
}

/** A consumer that refuses each message the first time (straight to the DLQ) and takes it when it comes back. */
async function refuseOnce(
  transport: Transport,
  group: string,
  topic: string,
): Promise<{ seen: InboundMessage[]; subscription: TransportSubscription }> {
  const seen: InboundMessage[] = [];
  const subscription = await transport.subscribe(
    { group, topic, mode: 'concurrent', prefetch: 4, maxReconsumeTimes: 2, startFrom: 'earliest', delayLevels: '50ms' },
    async (message) => {
      seen.push(message);
      if (seen.filter((other) => other.id === message.id).length === 1) {
        throw Object.assign(new Error('card declined'), { nonRetryable: true });
      }
    },
  );
  return { seen, subscription };
}

/**
 * An order published to a fresh topic that a fresh group consumes with refuseOnce: its first delivery goes to the DLQ,
 * where the console finds it.
 */
async function publishOrderRefusedOnce(
  transport: Transport,
): Promise<{ group: string; key: string; seen: InboundMessage[]; subscription: TransportSubscription }> {
  const group = uniqueName('billing');
  const topic = uniqueName('orders');
  await transport.ensureTopic(topic);
  const { seen, subscription } = await refuseOnce(transport, group, topic);
  const key = `o-${uuidv7()}`;
  await transport.publish([
    { id: uuidv7(), topic, key, headers: {}, body: Buffer.from(JSON.stringify({ orderId: key })) },
  ]);
  return { group, key, seen, subscription };
}

/** Lists the group's dead letter in the console, retries it there, and waits for the consumer to take it. */
async function listAndRetry(
  base: string,
  group: string,
  key: string,
  seen: InboundMessage[],
  expectStatsAvailable: boolean,
): Promise<void> {
  const session = await logIn(base, 'alice', PASSWORD);
  let letter: Letter | undefined;
  await waitUntil(
    async () => {
      const page = await session.get<{ total: number; items: Letter[] }>(`/api/dead-letters?group=${group}`);
      letter = page.body.items.find((item) => item.key === key);
      return letter !== undefined;
    },
    'the dead letter to be listed in the console',
    20_000,
    100,
  );
  expect(letter).toMatchObject({ group, key });
  expect(letter!.reason).toContain('card declined');
  // Also without a group filter, as the dead-letters page first opens.
  const all = await session.get<{ items: Letter[] }>('/api/dead-letters');
  expect(all.body.items.map((item) => item.id)).toContain(letter!.id);
  expect(await session.page('/dead-letters')).toContain(key);

  const overview = await session.get<{ broker: { statsAvailable: boolean }; deadLetters: { total: number } }>(
    '/api/overview',
  );
  expect(overview.status).toBe(200);
  expect(overview.body.broker.statsAvailable).toBe(expectStatsAvailable);
  expect(overview.body.deadLetters.total).toBeGreaterThanOrEqual(1);

  const retried = await session.post<{ resent: number[] }>(`/api/dead-letters/${letter!.id}/retry`, {
    reason: 'card fixed by the customer',
  });
  expect(retried.status).toBe(200);
  expect(retried.body.resent).toEqual([letter!.id]);
  await waitUntil(
    () => seen.filter((message) => message.key === key).length >= 2,
    'the consumer to take the retried message',
    20_000,
    50,
  );
  await waitUntil(
    async () =>
      !(await session.get<{ items: Letter[] }>(`/api/dead-letters?group=${group}`)).body.items.some(
        (item) => item.key === key,
      ),
    'the letter to leave the dead list',
    10_000,
    100,
  );
  const audit = await session.get<{ items: Array<{ action: string; target: string }> }>('/api/audit');
  expect(audit.body.items[0]).toMatchObject({ action: 'dead-letters.retry', target: `dead-letter ${letter!.id}` });
}

describe('npm run console against the standalone broker process (BROKER_URL)', () => {
  let broker: BrokerProcess;
  let client: RemoteTransport;
  beforeAll(async () => {
    broker = await BrokerProcess.start({ dataDir: join(dir, 'broker') });
    client = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN }, {}, {});
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await broker?.stop();
  });

  it('lists a dead letter, retries it, and the consumer takes it; half messages and statistics come from the broker', async () => {
    const { group, key, seen, subscription } = await publishOrderRefusedOnce(client);

    const port = await freePort();
    const server = runConsole(
      [],
      {
        CONSOLE_PORT: String(port),
        BROKER_URL: broker.url,
        BROKER_TOKEN: TEST_BROKER_TOKEN,
        CONSOLE_USERS_FILE: usersFile,
        CONSOLE_STORE: join(dir, 'console-remote.sqlite'),
      },
      children,
    );
    await consoleStarted(server);
    const base = `http://127.0.0.1:${port}/console`;
    expect(server.output()).toContain(`ReliableMQ console: ${base} (broker ${broker.url})`);
    expect((await fetch(`${base}/api/dead-letters`)).status).toBe(401);

    await listAndRetry(base, group, key, seen, true);
    const session = await logIn(base, 'alice', PASSWORD);
    const halves = await session.get<{ supported: boolean }>('/api/transactions?state=unresolved');
    expect(halves.body).toMatchObject({ supported: true });
    const overview = await session.get<{ groups: Array<{ group: string }> }>('/api/overview');
    expect(overview.body.groups.map((entry) => entry.group)).toContain(group);

    await subscription.close();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 90_000);

  it('refuses to start without the token the broker requires, with a wrong one, and when the broker is unreachable', async () => {
    const common = { CONSOLE_USERS_FILE: usersFile, CONSOLE_STORE: join(dir, 'console-refused.sqlite') };
    const noToken = runConsole([], { ...common, CONSOLE_PORT: '0', BROKER_URL: broker.url }, children);
    expect(await noToken.exited).toBe(1);
    expect(noToken.errors()).toContain(
      `The console cannot start: The broker at ${broker.url} requires a token: set BROKER_TOKEN to the broker's token`,
    );

    const wrong = runConsole(
      [],
      { ...common, CONSOLE_PORT: '0', BROKER_URL: broker.url, BROKER_TOKEN: 'not-the-token' },
      children,
    );
    expect(await wrong.exited).toBe(1);
    expect(wrong.errors()).toContain(`The broker at ${broker.url} refused BROKER_TOKEN: it is not the broker's token`);

    const nowhere = `reliable-mq://127.0.0.1:${await freePort()}`;
    const unreachable = runConsole(
      [],
      { ...common, CONSOLE_PORT: '0', BROKER_URL: nowhere, BROKER_TOKEN: 'x', BROKER_CONNECT_TIMEOUT: '1s' },
      children,
    );
    expect(await unreachable.exited).toBe(1);
    expect(unreachable.errors()).toContain(
      `The console cannot start: BROKER_URL: Could not connect to the broker at ${nowhere} within `,
    );
    expect(unreachable.errors()).toContain('ECONNREFUSED');

    const taken = await freePort();
    const busy = runConsole(
      [],
      { ...common, CONSOLE_PORT: String(taken), BROKER_URL: broker.url, BROKER_TOKEN: TEST_BROKER_TOKEN },
      children,
    );
    await consoleStarted(busy);
    const second = runConsole(
      [],
      { ...common, CONSOLE_PORT: String(taken), BROKER_URL: broker.url, BROKER_TOKEN: TEST_BROKER_TOKEN },
      children,
    );
    expect(await second.exited).toBe(1);
    expect(second.errors()).toContain(
      `The console cannot start: port ${taken} on 127.0.0.1 is already in use. Choose another CONSOLE_PORT.`,
    );
    busy.child.kill('SIGTERM');
    expect(await busy.exited).toBe(0);
  }, 90_000);
});

describe('npm run console settings', () => {
  it('refuses two broker sources and a bad BROKER_URL before connecting anywhere, and lists the settings', async () => {
    const both = runConsole(
      [],
      {
        CONSOLE_USERS_FILE: usersFile,
        BROKER_URL: 'reliable-mq://127.0.0.1:7420',
        RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672',
      },
      children,
    );
    expect(await both.exited).toBe(2);
    expect(both.errors()).toContain('BROKER_URL and RABBITMQ_URL are both set; the console operates one broker');
    expect(both.errors()).toContain('RABBITMQ_DLQ_GROUPS');

    const bad = runConsole([], { CONSOLE_USERS_FILE: usersFile, BROKER_URL: 'http://broker:7420' }, children);
    expect(await bad.exited).toBe(2);
    expect(bad.errors()).toContain('BROKER_URL: the URL must start with reliable-mq://');
  }, 60_000);
});

describeWithService('rabbitmq', 'npm run console against RabbitMQ (RABBITMQ_URL)', () => {
  const prefix = uniqueName('csl');
  let client: RabbitMqTransport;
  beforeAll(async () => {
    client = new RabbitMqTransport(
      { kind: 'rabbitmq', url: RABBITMQ_URL, prefix, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } },
      { env: {} },
    );
    await client.connect();
  }, 60_000);
  afterAll(async () => {
    const declared = client?.declaredTopology();
    await client?.close();
    const listed = await listRabbitMqObjectsWithPrefix(`${prefix}.`).catch(() => ({ queues: [], exchanges: [] }));
    await deleteRabbitMqObjects({
      queues: [...(declared?.queues ?? []), ...listed.queues],
      exchanges: [...(declared?.exchanges ?? []), ...listed.exchanges],
    });
  });

  it("lists a group's dead letter, retries it, and the consumer takes it; says half messages are not on RabbitMQ", async () => {
    const { group, key, seen, subscription } = await publishOrderRefusedOnce(client);

    const port = await freePort();
    const server = runConsole(
      [],
      {
        CONSOLE_PORT: String(port),
        RABBITMQ_URL,
        RABBITMQ_PREFIX: prefix,
        RABBITMQ_DLQ_GROUPS: group,
        CONSOLE_USERS_FILE: usersFile,
        CONSOLE_STORE: join(dir, 'console-rabbitmq.sqlite'),
      },
      children,
    );
    await consoleStarted(server);
    const base = `http://127.0.0.1:${port}/console`;
    expect(server.output()).toContain(`ReliableMQ console: ${base} (RabbitMQ `);
    expect(server.output()).toContain(`DLQs of ${group})`);
    expect(server.output()).not.toContain('guest:guest');

    await listAndRetry(base, group, key, seen, false);

    // What RabbitMQ cannot give is said, not faked.
    const session = await logIn(base, 'alice', PASSWORD);
    const halves = await session.get<{ supported: boolean; total: number }>('/api/transactions?state=discarded');
    expect(halves.status).toBe(200);
    expect(halves.body).toMatchObject({ supported: false, total: 0 });
    expect(await session.page('/transactions')).toContain('This broker has no transactional (half) messages.');
    expect(await session.page('/')).toContain('This broker gives no backlog or rate statistics');

    await subscription.close();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 90_000);

  it('refuses to start when RabbitMQ is unreachable', async () => {
    const nowhere = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    const refused = runConsole(
      [],
      {
        CONSOLE_PORT: '0',
        RABBITMQ_URL: nowhere,
        RABBITMQ_DLQ_GROUPS: 'payment-service',
        BROKER_CONNECT_TIMEOUT: '1s',
        CONSOLE_USERS_FILE: usersFile,
        CONSOLE_STORE: join(dir, 'console-rabbitmq-refused.sqlite'),
      },
      children,
    );
    expect(await refused.exited).toBe(1);
    expect(refused.errors()).toContain(
      'The console cannot start: RABBITMQ_URL: Cannot connect to RabbitMQ at amqp://guest:***@',
    );
  }, 60_000);
});
