import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { ClientOp, PROTOCOL_VERSION, type ResponseFrame } from '@reliable-mq/protocol';
import { RawBrokerClient } from '../../../test/support/raw-broker-client';
import { startInProcessBroker, type InProcessBroker } from '../test/in-process-broker';
import { readBrokerConfig } from './broker-config';
import { silentBrokerLogger } from './broker-logger';
import type { BrokerServer } from './broker-server';

const TOKEN = 'backlog-client-token';
const ADMIN = 'backlog-admin-token';

let broker: InProcessBroker | undefined;
let dataDir: string;
let server: BrokerServer;
let client: RemoteTransport;
let admin: RemoteTransport;
const logged: string[] = [];

const transport = (token: string): RemoteTransport =>
  new RemoteTransport({
    kind: 'remote',
    url: `reliable-mq://127.0.0.1:${server.address.port}`,
    token,
    connectTimeoutMs: 5_000,
  });

beforeAll(async () => {
  broker = await startInProcessBroker(
    { token: TOKEN, adminToken: ADMIN, topics: [{ name: 'orders', queueCount: 2 }] },
    { ...silentBrokerLogger, log: (message: string) => logged.push(message) },
  );
  ({ server, dataDir } = broker);
  client = transport(TOKEN);
  admin = transport(ADMIN);
  await Promise.all([client.connect(), admin.connect()]);
}, 30_000);

afterAll(async () => {
  await client?.close();
  await admin?.close();
  await broker?.dispose();
});

async function publish(prefix: string, count: number): Promise<void> {
  await client.publish(
    Array.from({ length: count }, (_, i) => ({
      id: `${prefix}-${i}`,
      topic: 'orders',
      key: `k${i % 5}`,
      headers: {},
      body: Buffer.from(`${prefix}-${i}`),
    })),
  );
}

describe('backlog calls of the standalone broker', () => {
  it('reports the backlog to any client, and refuses actions without the admin token', async () => {
    const group = 'report-group';
    const sub = await client.subscribe(
      { group, topic: 'orders', mode: 'concurrent', prefetch: 1, maxReconsumeTimes: 0 },
      async () => undefined,
    );
    await sub.close();
    await publish('r', 10);
    const report = await client.backlog.report();
    expect(report.entries.find((e) => e.group === group)).toMatchObject({ topic: 'orders', lag: 10, members: 0 });

    await expect(client.backlog.expandQueues('orders', 4)).rejects.toMatchObject({
      brokerCode: 'FORBIDDEN',
      message: expect.stringMatching(/admin token.*BROKER_ADMIN_TOKEN/),
    });
    await expect(client.backlog.resetOffsets(group, 'orders', Date.now())).rejects.toMatchObject({
      brokerCode: 'FORBIDDEN',
    });
    await expect(
      client.backlog.redistribute({ group, fromTopic: 'orders', toTopic: 'orders.wide', toQueueCount: 8 }),
    ).rejects.toMatchObject({ brokerCode: 'FORBIDDEN' });
    // Refused calls are not fatal: the connection keeps working.
    expect((await client.backlog.previewReset(group, 'orders', Date.now() + 1000)).skipped).toBe(10);
    expect((await client.listTopics()).find((t) => t.name === 'orders')!.queueCount).toBe(2);
  });

  it('expands, redistributes with progress, and resets with the admin token', async () => {
    const group = 'admin-group';
    const sub = await client.subscribe(
      { group, topic: 'orders', mode: 'concurrent', prefetch: 1, maxReconsumeTimes: 0 },
      async () => undefined,
    );
    await sub.close();
    await publish('a', 40);
    expect((await admin.backlog.expandQueues('orders', 4)).queueCount).toBe(4);

    const moved = await admin.backlog.redistribute({
      group,
      fromTopic: 'orders',
      toTopic: 'orders.admin-wide',
      toQueueCount: 8,
      operation: 'move-1',
    });
    expect(moved.moved).toBeGreaterThanOrEqual(40);
    const progress = await admin.backlog.progress('move-1');
    expect(progress).toMatchObject({ state: 'done', moved: moved.moved, total: moved.moved, error: null });
    expect((await admin.listTopics()).find((t) => t.name === 'orders.admin-wide')!.queueCount).toBe(8);
    await expect(admin.backlog.progress('never')).rejects.toMatchObject({ brokerCode: 'UNKNOWN_OPERATION' });

    const report = await admin.backlog.report();
    expect(report.entries.find((e) => e.group === group && e.topic === 'orders')!.lag).toBe(0);
    // The broker's log says who did what: the client and address of the connection, then the action.
    expect(logged.join('\n')).toMatch(/127\.0\.0\.1.*backlog\.expand: topic orders now has 4 queues\./);
    expect(logged.join('\n')).toMatch(
      /backlog\.redistribute: moved \d+ message\(s\) of group admin-group onto orders\.admin-wide/,
    );

    // Back to the start of the topic: everything still stored comes again.
    const plan = await admin.backlog.resetOffsets(group, 'orders', 0);
    expect(plan.redelivered).toBeGreaterThanOrEqual(40);
    expect((await admin.backlog.report()).entries.find((e) => e.group === group && e.topic === 'orders')!.lag).toBe(
      plan.redelivered,
    );
  });

  it('answers bad arguments with a sentence', async () => {
    await expect(
      admin.backlog.redistribute({ group: 'g', fromTopic: 'orders', toTopic: 'orders.missing' }),
    ).rejects.toThrow(/does not exist: give "toQueueCount"/);
    await expect(admin.backlog.expandQueues('orders', 2)).rejects.toThrow(/already has 4 queues/);
    await expect(admin.backlog.expandQueues('missing', 8)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
  });
});

describe('the hello reply', () => {
  it('announces the backlog calls, and whether the token is the admin token', async () => {
    for (const [token, admin] of [
      [TOKEN, false],
      [ADMIN, true],
    ] as const) {
      const raw = await RawBrokerClient.connect(server.address.port);
      const answer = (await raw.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token })) as ResponseFrame;
      expect(answer.r).toMatchObject({ backlogCalls: true, admin });
      raw.socket.destroy();
    }
  });
});

describe('BROKER_ADMIN_TOKEN', () => {
  it('must be long enough and differ from BROKER_TOKEN', () => {
    const base = { BROKER_TOKEN: 'a-long-client-token', BROKER_DATA_DIR: dataDir };
    expect(readBrokerConfig({ ...base, BROKER_ADMIN_TOKEN: 'short' }, '/')).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/BROKER_ADMIN_TOKEN must be 8 to 1024/)],
    });
    expect(readBrokerConfig({ ...base, BROKER_ADMIN_TOKEN: 'a-long-client-token' }, '/')).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/must differ from BROKER_TOKEN/)],
    });
    expect(readBrokerConfig({ ...base, BROKER_ADMIN_TOKEN: 'an-admin-token' }, '/')).toMatchObject({
      ok: true,
      config: { adminToken: 'an-admin-token' },
    });
  });
});
