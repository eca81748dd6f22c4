import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientOp,
  encodeFrame,
  FrameType,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  ServerEvent,
  ServerOp,
  type ErrorFrame,
  type EventFrame,
  type Frame,
  type RequestFrame,
  type ResponseFrame,
} from '@reliable-mq/protocol';
import { RawBrokerClient } from '../../../test/support/raw-broker-client';
import { brokerConfig, type BrokerConfig } from './broker-config';
import { silentBrokerLogger } from './broker-logger';
import { BrokerServer } from './broker-server';

const TOKEN = 'validate-token-42';
const VALIDATE_TIMEOUT_MS = 300;
const MAX_BODY = 2048;
const roots: string[] = [];
const servers: BrokerServer[] = [];
const clients: RawBrokerClient[] = [];

async function startServer(overrides: Partial<BrokerConfig> = {}): Promise<BrokerServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'rmq-broker-validate-'));
  roots.push(dataDir);
  const server = await BrokerServer.start(
    brokerConfig({
      port: 0,
      token: TOKEN,
      engine: { minFreeDiskBytes: 0, maxBodyBytes: MAX_BODY },
      validateTimeoutMs: VALIDATE_TIMEOUT_MS,
      ...overrides,
      dataDir,
    }),
    { logger: silentBrokerLogger },
  );
  servers.push(server);
  return server;
}

afterAll(async () => {
  for (const client of clients) client.destroy();
  await Promise.all(servers.map((server) => server.shutdown(2_000)));
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

async function open(server: BrokerServer): Promise<RawBrokerClient> {
  const client = await RawBrokerClient.open(server.address.port, TOKEN);
  clients.push(client);
  return client;
}

/** A raw consumer of `group` on `topic`; `validates` as it would announce at subscribe time. */
async function member(
  server: BrokerServer,
  group: string,
  topic: string,
  memberId: string,
  validates?: boolean,
): Promise<RawBrokerClient> {
  const client = await open(server);
  const answer = await client.call(ClientOp.SUBSCRIBE, {
    sub: 1,
    group,
    topic,
    mode: 'concurrent',
    prefetch: 4,
    maxReconsumeTimes: 0,
    startFrom: 'earliest',
    memberId,
    ...(validates === undefined ? {} : { validates }),
  });
  expect(answer.t, JSON.stringify(answer)).toBe(FrameType.RESPONSE);
  return client;
}

/** The next `payload.validate` the broker sends this member, from `after` frames on. */
async function nextCheck(client: RawBrokerClient, after = 0): Promise<RequestFrame> {
  return (await client.waitFor(
    (frame) =>
      frame.t === FrameType.REQUEST && frame.op === ServerOp.PAYLOAD_VALIDATE && client.frames.indexOf(frame) >= after,
  )) as RequestFrame;
}

function answer(client: RawBrokerClient, id: number, result: unknown): void {
  client.writeBytes(encodeFrame({ t: FrameType.RESPONSE, id, r: result }));
}

function resultOf<T>(frame: Frame): T {
  if (frame.t !== FrameType.RESPONSE) throw new Error(`expected a response, got ${JSON.stringify(frame)}`);
  return frame.r as T;
}

const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

describe('payload.validate: the broker forwards a check to one live, validating member', () => {
  let server: BrokerServer;
  let asker: RawBrokerClient;
  let topic: string;

  beforeAll(async () => {
    server = await startServer();
    asker = await open(server);
    topic = `validate-${randomUUID().slice(0, 8)}`;
    expect((await asker.call(ClientOp.TOPIC_ENSURE, { topic })).t).toBe(FrameType.RESPONSE);
  });

  it('announces how long it waits for a member in the hello reply', async () => {
    const client = await RawBrokerClient.connect(server.address.port);
    clients.push(client);
    const hello = (await client.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN })) as ResponseFrame;
    expect(hello.r).toMatchObject({ validateTimeoutMs: VALIDATE_TIMEOUT_MS });
  });

  it("passes the member's verdict back with its member id, handler and validation", async () => {
    const group = 'verdicts';
    const consumer = await member(server, group, topic, 'm-verdicts', true);
    const pending = asker.call(ClientOp.PAYLOAD_VALIDATE, { group, topic, payload: body({ card: 'abc' }) });
    const check = await nextCheck(consumer);
    expect(check.a).toMatchObject({ sub: 1 });
    expect(Buffer.from((check.a as { payload: Uint8Array }).payload).toString('utf8')).toBe('{"card":"abc"}');
    answer(consumer, check.id, {
      valid: false,
      errors: ['card: card must be 12 to 19 digits'],
      handler: 'Billing.charge',
      validation: 'dto:ChargeDto',
    });
    expect(((await pending) as ResponseFrame).r).toEqual({
      status: 'invalid',
      errors: ['card: card must be 12 to 19 digits'],
      memberId: 'm-verdicts',
      handler: 'Billing.charge',
      validation: 'dto:ChargeDto',
    });

    const seen = consumer.frames.length;
    const again = asker.call(ClientOp.PAYLOAD_VALIDATE, { group, topic, payload: body({ card: '4242424242424242' }) });
    answer(consumer, (await nextCheck(consumer, seen)).id, { valid: true });
    expect(((await again) as ResponseFrame).r).toEqual({ status: 'valid', memberId: 'm-verdicts' });
  });

  it('lets validating members take turns, and never asks one that did not announce validation', async () => {
    const group = 'turns';
    const first = await member(server, group, topic, 'm-turn-1', true);
    const second = await member(server, group, topic, 'm-turn-2', true);
    const legacy = await member(server, group, topic, 'm-turn-old');
    const askedBy: string[] = [];
    for (let round = 0; round < 4; round++) {
      const marks = [first.frames.length, second.frames.length];
      const pending = asker.call(ClientOp.PAYLOAD_VALIDATE, { group, topic, payload: body({ round }) });
      const check = await Promise.race([
        nextCheck(first, marks[0]).then((frame) => ({ frame, client: first })),
        nextCheck(second, marks[1]).then((frame) => ({ frame, client: second })),
      ]);
      answer(check.client, check.frame.id, { valid: true });
      askedBy.push(resultOf<{ memberId: string }>(await pending).memberId);
    }
    expect(new Set(askedBy)).toEqual(new Set(['m-turn-1', 'm-turn-2']));
    expect(legacy.frames.some((frame) => frame.t === FrameType.REQUEST)).toBe(false);
  });

  it('is unavailable when the members of the group do not announce validation (older clients)', async () => {
    const group = 'legacy-only';
    await member(server, group, topic, 'm-legacy');
    const result = (await asker.call(ClientOp.PAYLOAD_VALIDATE, { group, topic, payload: body({}) })) as ResponseFrame;
    expect(result.r).toEqual({
      status: 'unavailable',
      reason: `the connected members of group "${group}" on "${topic}" do not offer payload checks`,
    });
  });

  it('is unavailable, with the reason, when the member is silent, disconnects, refuses or answers nonsense', async () => {
    const silent = await member(server, 'silent', topic, 'm-silent', true);
    const started = Date.now();
    const timedOut = (await asker.call(ClientOp.PAYLOAD_VALIDATE, {
      group: 'silent',
      topic,
      payload: body({}),
    })) as ResponseFrame;
    expect(Date.now() - started).toBeGreaterThanOrEqual(VALIDATE_TIMEOUT_MS - 20);
    expect(timedOut.r).toEqual({
      status: 'unavailable',
      reason: `member m-silent of group "silent" gave no answer: No answer to "payload.validate" within ${VALIDATE_TIMEOUT_MS} ms.`,
    });
    expect(silent.frames.some((frame) => frame.t === FrameType.REQUEST)).toBe(true);

    const leaving = await member(server, 'leaving', topic, 'm-leaving', true);
    const pending = asker.call(ClientOp.PAYLOAD_VALIDATE, { group: 'leaving', topic, payload: body({}) });
    await nextCheck(leaving);
    leaving.destroy();
    expect(((await pending) as ResponseFrame).r).toEqual({
      status: 'unavailable',
      reason: 'member m-leaving of group "leaving" gave no answer: The connection closed.',
    });

    const refusing = await member(server, 'refusing', topic, 'm-refusing', true);
    const refused = asker.call(ClientOp.PAYLOAD_VALIDATE, { group: 'refusing', topic, payload: body({}) });
    const check = await nextCheck(refusing);
    refusing.writeBytes(
      encodeFrame({ t: FrameType.ERROR, id: check.id, e: { code: 'UNKNOWN_SUBSCRIPTION', message: 'gone' } }),
    );
    expect(resultOf<{ reason: string }>(await refused).reason).toContain('UNKNOWN_SUBSCRIPTION: gone');

    for (const nonsense of [{ valid: 'maybe' }, { valid: false, errors: [] }, { valid: false, errors: [3] }, 'yes']) {
      const seen = refusing.frames.length;
      const pendingNonsense = asker.call(ClientOp.PAYLOAD_VALIDATE, { group: 'refusing', topic, payload: body({}) });
      answer(refusing, (await nextCheck(refusing, seen)).id, nonsense);
      expect(((await pendingNonsense) as ResponseFrame).r, JSON.stringify(nonsense)).toEqual({
        status: 'unavailable',
        reason: 'member m-refusing of group "refusing" answered in a shape this broker does not know',
      });
    }
  });

  it('refuses unknown groups and topics, bad names and oversized payloads as call errors; the connection goes on', async () => {
    await member(server, 'known', topic, 'm-known', true);
    const cases: Array<{ args: Record<string, unknown>; code: string; message: string }> = [
      {
        args: { group: 'never-seen', topic, payload: body({}) },
        code: ProtocolErrorCode.UNKNOWN_GROUP,
        message: `Group "never-seen" has never consumed topic "${topic}" on this broker`,
      },
      {
        args: { group: 'known', topic: 'no.such.topic', payload: body({}) },
        code: 'UNKNOWN_TOPIC',
        message: 'no.such.topic',
      },
      { args: { group: 'has spaces', topic, payload: body({}) }, code: 'INVALID_NAME', message: 'group' },
      {
        args: { group: 'known', topic, payload: Buffer.alloc(MAX_BODY + 1, 0x20) },
        code: 'MESSAGE_TOO_LARGE',
        message: `the limit is ${MAX_BODY} bytes`,
      },
    ];
    for (const testCase of cases) {
      const error = (await asker.call(ClientOp.PAYLOAD_VALIDATE, testCase.args)) as ErrorFrame;
      expect(error.t, testCase.code).toBe(FrameType.ERROR);
      expect(error.e.code).toBe(testCase.code);
      expect(error.e.message).toContain(testCase.message);
      expect(error.e.fatal).toBeUndefined();
    }
    expect((await asker.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
  });
});

describe('payload.validate after a broker restart', () => {
  it('knows a group from its dead letters alone, and reports it unavailable until a member is back', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-broker-validate-restart-'));
    const first = await startServer({ dataDir });
    const topic = 'restart.topic';
    const producer = await open(first);
    expect((await producer.call(ClientOp.TOPIC_ENSURE, { topic })).t).toBe(FrameType.RESPONSE);
    const consumer = await member(first, 'restarted', topic, 'm-restart', true);
    await producer.call(ClientOp.PUBLISH, { messages: [{ id: randomUUID(), topic, body: body({ a: 1 }) }] });
    const delivery = (await consumer.waitFor(
      (frame) => frame.t === FrameType.EVENT && frame.op === ServerEvent.DELIVER,
    )) as EventFrame;
    consumer.request(
      ClientOp.NACK,
      { tag: (delivery.a as { tag: number }).tag, message: 'bad', nonRetryable: true },
      0,
    );
    const listed = async () =>
      resultOf<{ total: number }>(await producer.call(ClientOp.DLQ_LIST, { group: 'restarted' })).total;
    for (let waited = 0; (await listed()) === 0 && waited < 5_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await first.shutdown(2_000);

    const second = await startServer({ dataDir });
    const asker = await open(second);
    const result = (await asker.call(ClientOp.PAYLOAD_VALIDATE, {
      group: 'restarted',
      topic,
      payload: body({}),
    })) as ResponseFrame;
    expect(result.r).toEqual({
      status: 'unavailable',
      reason: `no member of group "restarted" consuming "${topic}" is connected`,
    });
  });
});
