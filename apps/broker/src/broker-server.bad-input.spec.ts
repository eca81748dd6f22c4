import { encode } from '@msgpack/msgpack';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientOp,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FrameType,
  MAX_HELLO_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  ServerEvent,
  type ErrorFrame,
  type EventFrame,
} from '@reliable-mq/protocol';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { RawBrokerClient } from '../../../test/support/raw-broker-client';
import { brokerConfig, type BrokerConfig } from './broker-config';
import { silentBrokerLogger } from './broker-logger';
import { BrokerServer } from './broker-server';

const TOKEN = 'bad-input-token-42';
const TOPIC = 'bad.input';
const roots: string[] = [];
const servers: BrokerServer[] = [];

async function startServer(overrides: Partial<BrokerConfig> = {}): Promise<BrokerServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-broker-bad-'));
  roots.push(dataDir);
  const server = await BrokerServer.start(
    brokerConfig({
      dataDir,
      port: 0,
      token: TOKEN,
      topics: [{ name: TOPIC, queueCount: 2 }],
      engine: { minFreeDiskBytes: 0 },
      ...overrides,
    }),
    { logger: silentBrokerLogger },
  );
  servers.push(server);
  return server;
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.shutdown(2_000)));
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Raw payload bytes behind a valid length prefix. */
function framed(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

const packed = (value: unknown): Buffer => Buffer.from(encode(value));

/** A good client publishes and consumes: the broker is up and its state intact. */
async function assertHealthy(server: BrokerServer): Promise<void> {
  const transport = new RemoteTransport({ kind: 'remote', url: server.url, token: TOKEN, connectTimeoutMs: 5_000 });
  await transport.connect();
  try {
    const topic = `ok-${randomUUID().slice(0, 8)}`;
    await transport.ensureTopic(topic);
    const got: string[] = [];
    const sub = await transport.subscribe(
      {
        group: `g-${randomUUID().slice(0, 8)}`,
        topic,
        mode: 'concurrent',
        prefetch: 8,
        maxReconsumeTimes: 1,
        startFrom: 'earliest',
      },
      async (message) => {
        got.push(message.id);
      },
    );
    const id = randomUUID();
    const [confirm] = await transport.publish([{ id, topic, headers: {}, body: Buffer.from('x') }]);
    expect(confirm).toEqual({ id, duplicate: false });
    for (let waited = 0; !got.includes(id) && waited < 5_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got).toEqual([id]);
    await sub.close(1_000);
  } finally {
    await transport.close();
  }
}

describe('broker server: malformed and hostile frames get an error frame and a closed connection', () => {
  let server: BrokerServer;
  beforeAll(async () => {
    server = await startServer();
  });

  const frameCases: Array<{ name: string; bytes: () => Buffer; code: string; afterHello?: boolean }> = [
    {
      name: 'a payload that is not MessagePack',
      bytes: () => framed(Buffer.from([0xc1, 0xc1])),
      code: ProtocolErrorCode.BAD_FRAME,
    },
    { name: 'a payload that is not a map', bytes: () => framed(packed([1, 2, 3])), code: ProtocolErrorCode.BAD_FRAME },
    {
      name: 'a payload with trailing bytes',
      bytes: () => framed(Buffer.concat([packed({ t: 1, id: 1, op: 'ping' }), Buffer.from([0])])),
      code: ProtocolErrorCode.BAD_FRAME,
    },
    { name: 'an empty frame', bytes: () => Buffer.alloc(4), code: ProtocolErrorCode.BAD_FRAME },
    { name: 'an unknown frame type', bytes: () => framed(packed({ t: 9, id: 1 })), code: ProtocolErrorCode.BAD_FRAME },
    {
      name: 'a request without an op',
      bytes: () => framed(packed({ t: 1, id: 1 })),
      code: ProtocolErrorCode.BAD_FRAME,
    },
    {
      name: 'a negative request id',
      bytes: () => framed(packed({ t: 1, id: -5, op: 'ping' })),
      code: ProtocolErrorCode.BAD_FRAME,
    },
    {
      name: 'a __proto__ key',
      bytes: () => framed(Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x01])])),
      code: ProtocolErrorCode.BAD_FRAME,
    },
    {
      name: 'an EVENT frame from a client',
      bytes: () => encodeFrame({ t: FrameType.EVENT, op: 'deliver', a: {} }),
      code: ProtocolErrorCode.BAD_FRAME,
      afterHello: true,
    },
    {
      name: 'a call before hello',
      bytes: () => encodeFrame({ t: FrameType.REQUEST, id: 1, op: 'publish', a: {} }),
      code: ProtocolErrorCode.HANDSHAKE_REQUIRED,
    },
    {
      name: 'an unknown call',
      bytes: () => encodeFrame({ t: FrameType.REQUEST, id: 3, op: 'drop.everything', a: {} }),
      code: ProtocolErrorCode.UNKNOWN_OP,
      afterHello: true,
    },
    {
      name: 'a call named after an object builtin',
      bytes: () => encodeFrame({ t: FrameType.REQUEST, id: 3, op: 'constructor', a: {} }),
      code: ProtocolErrorCode.UNKNOWN_OP,
      afterHello: true,
    },
    {
      name: 'a second hello',
      bytes: () => encodeFrame({ t: FrameType.REQUEST, id: 3, op: 'hello', a: { protocol: 1, token: TOKEN } }),
      code: ProtocolErrorCode.BAD_REQUEST,
      afterHello: true,
    },
  ];

  for (const testCase of frameCases) {
    it(`${testCase.name} → ${testCase.code}`, async () => {
      const client = testCase.afterHello
        ? await RawBrokerClient.open(server.address.port, TOKEN)
        : await RawBrokerClient.connect(server.address.port);
      client.writeBytes(testCase.bytes());
      const error = await client.expectFatal();
      expect(error.e.code).toBe(testCase.code);
      expect(error.e.fatal).toBe(true);
    });
  }

  it(`an oversized frame is refused from its length prefix alone (default limit ${DEFAULT_MAX_FRAME_BYTES} bytes)`, async () => {
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(DEFAULT_MAX_FRAME_BYTES + 1, 0);
    client.writeBytes(header);
    const error = await client.expectFatal();
    expect(error.e.code).toBe(ProtocolErrorCode.FRAME_TOO_LARGE);
    expect(error.id).toBe(0);
  });

  it('a frame of exactly the limit is read (and refused only for what it says)', async () => {
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    const base = packed({ t: 1, id: 7, op: 'ping', a: { pad: '' } });
    const padded = packed({
      t: 1,
      id: 7,
      op: 'ping',
      a: { pad: 'x'.repeat(DEFAULT_MAX_FRAME_BYTES - base.length - 4) },
    });
    expect(padded.length).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    client.writeBytes(framed(padded));
    const answer = await client.waitFor((frame) => frame.t !== FrameType.EVENT && 'id' in frame && frame.id === 7);
    expect(answer.t).toBe(FrameType.RESPONSE);
    client.destroy();
  });

  describe('hello', () => {
    const helloCases: Array<{ name: string; args: unknown; code: string }> = [
      {
        name: 'a wrong token',
        args: { protocol: PROTOCOL_VERSION, token: 'not-the-token' },
        code: ProtocolErrorCode.UNAUTHORIZED,
      },
      { name: 'no token', args: { protocol: PROTOCOL_VERSION }, code: ProtocolErrorCode.UNAUTHORIZED },
      {
        name: 'a token of the wrong type',
        args: { protocol: PROTOCOL_VERSION, token: 12345 },
        code: ProtocolErrorCode.BAD_REQUEST,
      },
      {
        name: 'another protocol version',
        args: { protocol: PROTOCOL_VERSION + 1, token: TOKEN },
        code: ProtocolErrorCode.UNSUPPORTED_VERSION,
      },
      {
        name: 'a protocol version of the wrong type',
        args: { protocol: '1', token: TOKEN },
        code: ProtocolErrorCode.BAD_REQUEST,
      },
      { name: 'arguments that are not a map', args: [PROTOCOL_VERSION, TOKEN], code: ProtocolErrorCode.BAD_REQUEST },
    ];
    for (const testCase of helloCases) {
      it(`with ${testCase.name} → ${testCase.code}`, async () => {
        const client = await RawBrokerClient.connect(server.address.port);
        client.request(ClientOp.HELLO, testCase.args);
        const error = await client.expectFatal();
        expect(error.e.code).toBe(testCase.code);
      });
    }

    it('tells the client the limits it must respect', async () => {
      const client = await RawBrokerClient.connect(server.address.port);
      const answer = await client.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN });
      expect(answer).toMatchObject({
        t: FrameType.RESPONSE,
        r: { protocol: PROTOCOL_VERSION, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, server: 'reliable-mq-broker' },
      });
      client.destroy();
    });
  });

  describe('wrong argument types on every call', () => {
    const wrongArgs: Record<string, unknown[]> = {
      [ClientOp.PING]: [[1, 2], 'x'],
      [ClientOp.TOPIC_ENSURE]: [{ topic: 5 }, { topic: 'a', queueCount: 'many' }],
      [ClientOp.TOPIC_LIST]: ['all'],
      [ClientOp.PUBLISH]: [
        { messages: 'x' },
        { messages: [{ id: 1, topic: TOPIC, body: Buffer.from('x') }] },
        { messages: [{ id: 'a', topic: TOPIC, body: 'not binary' }] },
        { messages: [{ id: 'a', topic: TOPIC, body: Buffer.from('x'), headers: { h: 1 } }] },
        { messages: [{ id: 'a', topic: TOPIC, body: Buffer.from('x'), tags: 'one' }] },
        { messages: [{ id: 'a', topic: TOPIC, body: Buffer.from('x'), deliverAt: 'soon' }] },
      ],
      [ClientOp.SUBSCRIBE]: [
        { sub: '1', group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: 1, maxReconsumeTimes: 1 },
        { sub: 1, group: 'g', topic: TOPIC, mode: 5, prefetch: 1, maxReconsumeTimes: 1 },
        { sub: 1, group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: '1', maxReconsumeTimes: 1 },
        { sub: 1, group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: 1, maxReconsumeTimes: 1, validates: 'yes' },
      ],
      [ClientOp.UNSUBSCRIBE]: [{ sub: 'one' }, {}],
      [ClientOp.PUBLISH_BATCH]: [
        { calls: 'x' },
        { calls: ['x'] },
        { calls: [{ messages: 'x' }] },
        { calls: [{ messages: [{ id: 'a', topic: TOPIC, body: 'not binary' }] }] },
      ],
      [ClientOp.ACK]: [{ tag: 'a' }, {}],
      [ClientOp.ACK_BATCH]: [{ tags: 'a' }, { tags: ['a'] }, {}],
      [ClientOp.NACK]: [
        { tag: 1, message: 5 },
        { tag: 1, message: 'x', nonRetryable: 'yes' },
        { tag: 1, message: 'x', retryDelayMs: 'soon' },
      ],
      [ClientOp.DLQ_LIST]: [{ limit: '10' }, { status: 3 }, { group: ['g'] }],
      [ClientOp.DLQ_GET]: [{ id: '1' }, {}],
      [ClientOp.DLQ_RESEND]: [{ ids: '1' }, { ids: [1], edit: { body: 'text' } }, { ids: ['1'] }],
      [ClientOp.DLQ_DISCARD]: [{ ids: [1], reason: 1 }, { ids: [1] }],
      [ClientOp.STATS]: [[1]],
      [ClientOp.TX_SEND]: [
        { message: 'x', producerGroup: 'p' },
        { message: { id: 'a', topic: TOPIC, body: Buffer.from('x') } },
      ],
      [ClientOp.TX_COMMIT]: [{ txId: 1 }],
      [ClientOp.TX_ROLLBACK]: [{ txId: 'x', reason: 5 }],
      [ClientOp.TX_CHECKER_REGISTER]: [{ checker: '1', producerGroup: 'p' }, { checker: 1 }],
      [ClientOp.TX_CHECKER_UNREGISTER]: [{}],
      [ClientOp.TX_LIST]: [{ state: true }, { limit: 'ten' }],
      [ClientOp.TX_COMMIT_DISCARDED]: [{ txIds: [1] }],
      [ClientOp.TX_DISCARD_DISCARDED]: [{ txIds: ['a'] }],
      [ClientOp.PAYLOAD_VALIDATE]: [
        { group: 5, topic: TOPIC, payload: Buffer.from('{}') },
        { group: 'g', topic: TOPIC, payload: '{}' },
        { group: 'g', payload: Buffer.from('{}') },
      ],
      [ClientOp.BACKLOG_REPORT]: [[1]],
      [ClientOp.BACKLOG_EXPAND]: [{ topic: TOPIC }, { topic: TOPIC, queueCount: '16' }, { topic: 1, queueCount: 16 }],
      [ClientOp.BACKLOG_REDISTRIBUTE]: [
        { group: 'g', toTopic: 'w' },
        { group: 'g', fromTopic: TOPIC, toTopic: 3 },
        { group: 'g', fromTopic: TOPIC, toTopic: 'w', toQueueCount: 'many' },
        { group: 'g', fromTopic: TOPIC, toTopic: 'w', operation: 7 },
      ],
      [ClientOp.BACKLOG_PROGRESS]: [{}, { operation: 1 }],
      [ClientOp.BACKLOG_RESET_PREVIEW]: [
        { group: 'g', topic: TOPIC },
        { group: 'g', topic: TOPIC, timestamp: '2026-01-01' },
      ],
      [ClientOp.BACKLOG_RESET]: [
        { group: 'g', topic: TOPIC, timestamp: true },
        { group: 'g', timestamp: 1 },
      ],
    };

    it('covers every call of the protocol', () => {
      const calls = Object.values(ClientOp).filter((op) => op !== ClientOp.HELLO);
      expect(Object.keys(wrongArgs).sort()).toEqual([...calls].sort());
    });

    for (const [op, cases] of Object.entries(wrongArgs)) {
      cases.forEach((args, index) => {
        it(`${op} #${index + 1} → BAD_REQUEST`, async () => {
          const client = await RawBrokerClient.open(server.address.port, TOKEN);
          const id = client.request(op, args);
          const error = await client.expectFatal();
          expect(error.e.code).toBe(ProtocolErrorCode.BAD_REQUEST);
          expect(error.id).toBe(id);
        });
      });
    }
  });

  describe('values out of range fail their call only, as the protocol says', () => {
    // The right types, values out of their range: INVALID_ARGUMENT for that call, and the connection goes on.
    const outOfRange: Array<[string, unknown]> = [
      [ClientOp.DLQ_LIST, { limit: 1e9 }],
      [ClientOp.DLQ_LIST, { limit: 2 ** 53 + 2 }],
      [ClientOp.DLQ_LIST, { status: 'gone' }],
      [ClientOp.DLQ_LIST, { offset: -1 }],
      [ClientOp.DLQ_LIST, { from: Number.NaN }],
      [ClientOp.TX_LIST, { limit: -1 }],
      [ClientOp.TX_LIST, { state: 'maybe' }],
      [ClientOp.SUBSCRIBE, { sub: 1, group: 'g', topic: TOPIC, mode: 'sideways', prefetch: 1, maxReconsumeTimes: 1 }],
      [ClientOp.SUBSCRIBE, { sub: 1, group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: 0, maxReconsumeTimes: 1 }],
      [
        ClientOp.SUBSCRIBE,
        { sub: 1, group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: 1e6, maxReconsumeTimes: 1 },
      ],
      [
        ClientOp.SUBSCRIBE,
        { sub: 1, group: 'g', topic: TOPIC, mode: 'concurrent', prefetch: 1, maxReconsumeTimes: -1 },
      ],
      [ClientOp.UNSUBSCRIBE, { sub: -1 }],
      [ClientOp.TOPIC_ENSURE, { topic: 't'.repeat(300) }],
      [ClientOp.TOPIC_ENSURE, { topic: 'fine', queueCount: 1e12 }],
      [ClientOp.DLQ_RESEND, { ids: [1.5] }],
      [ClientOp.DLQ_RESEND, { ids: Array.from({ length: 10_001 }, (_, index) => index) }],
      [ClientOp.DLQ_GET, { id: -3 }],
      [ClientOp.PAYLOAD_VALIDATE, { group: 'g'.repeat(300), topic: TOPIC, payload: Buffer.from('{}') }],
      [ClientOp.PUBLISH, { messages: [{ id: 'x'.repeat(300), topic: TOPIC, body: Buffer.from('x') }] }],
      [ClientOp.TX_CHECKER_REGISTER, { checker: 0, producerGroup: 'p' }],
    ];

    it('each fails with INVALID_ARGUMENT on one connection, which answers the next call', async () => {
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      for (const [op, args] of outOfRange) {
        const answer = await client.call(op, args);
        expect(answer, `${op} ${JSON.stringify(args).slice(0, 80)}`).toMatchObject({
          t: FrameType.ERROR,
          e: { code: 'INVALID_ARGUMENT', name: 'InvalidArgumentError' },
        });
        expect((answer as ErrorFrame).e.fatal).toBeUndefined();
        expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
      }
      // Notifications have no answer; an out-of-range one is dropped and the connection goes on.
      client.request(ClientOp.NACK, { tag: 1, message: 'x', retryDelayMs: -3 }, 0);
      client.request(ClientOp.ACK, { tag: -1 }, 0);
      expect((await client.call(ClientOp.DLQ_LIST, { limit: 10 })).t).toBe(FrameType.RESPONSE);
      expect(client.closed).toBe(false);
      client.destroy();
    });

    it('a remote transport gets the engine error class, and its connection stays up', async () => {
      const transport = new RemoteTransport({ kind: 'remote', url: server.url, token: TOKEN, connectTimeoutMs: 5_000 });
      await transport.connect();
      try {
        await expect(transport.deadLetters.list({ limit: 1e9 })).rejects.toMatchObject({
          name: 'InvalidArgumentError',
        });
        await expect(transport.deadLetters.list({ limit: 5 })).resolves.toMatchObject({ total: 0 });
      } finally {
        await transport.close();
      }
    });
  });

  describe('refusals by the engine are answers, not connection errors', () => {
    it('publishing to an unknown topic fails that call only', async () => {
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      const answer = (await client.call(ClientOp.PUBLISH, {
        messages: [{ id: 'm-1', topic: 'no.such.topic', body: Buffer.from('x') }],
      })) as ErrorFrame;
      expect(answer.t).toBe(FrameType.ERROR);
      expect(answer.e).toMatchObject({ code: 'UNKNOWN_TOPIC', name: 'UnknownTopicError' });
      expect(answer.e.fatal).toBeUndefined();
      expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
      client.destroy();
    });

    it('an invalid group name, an unknown transaction and an unknown subscription fail their calls only', async () => {
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      const badGroup = (await client.call(ClientOp.SUBSCRIBE, {
        sub: 1,
        group: 'spaces are not allowed',
        topic: TOPIC,
        mode: 'concurrent',
        prefetch: 1,
        maxReconsumeTimes: 1,
      })) as ErrorFrame;
      expect(badGroup.e.code).toBe('INVALID_NAME');
      const unknownTx = (await client.call(ClientOp.TX_COMMIT, { txId: 'nope' })) as ErrorFrame;
      expect(unknownTx.e.code).toBe('TRANSACTION_NOT_FOUND');
      const unknownSub = (await client.call(ClientOp.UNSUBSCRIBE, { sub: 99 })) as ErrorFrame;
      expect(unknownSub.e.code).toBe(ProtocolErrorCode.UNKNOWN_SUBSCRIPTION);
      expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
      client.destroy();
    });

    it('acks of unknown deliveries are ignored', async () => {
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      client.request(ClientOp.ACK, { tag: 12345 }, 0);
      client.request(ClientOp.NACK, { tag: 12346, message: 'late' }, 0);
      expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
      client.destroy();
    });
  });

  describe('closed connections', () => {
    it('a client that vanishes mid-frame leaves the broker serving', async () => {
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      const whole = encodeFrame({
        t: FrameType.REQUEST,
        id: 9,
        op: 'publish',
        a: { messages: [{ id: 'x', topic: TOPIC, body: Buffer.alloc(1000) }] },
      });
      client.writeBytes(whole.subarray(0, 500));
      client.destroy();
      await client.closedPromise;
      await assertHealthy(server);
    });

    it('a consumer that vanishes with unacked deliveries loses nothing: they go to the next member', async () => {
      const group = `vanish-${randomUUID().slice(0, 8)}`;
      const topic = `vanish-${randomUUID().slice(0, 8)}`;
      const client = await RawBrokerClient.open(server.address.port, TOKEN);
      expect((await client.call(ClientOp.TOPIC_ENSURE, { topic, queueCount: 1 })).t).toBe(FrameType.RESPONSE);
      const ids = Array.from({ length: 5 }, () => randomUUID());
      await client.call(ClientOp.PUBLISH, { messages: ids.map((id) => ({ id, topic, body: Buffer.from(id) })) });
      await client.call(ClientOp.SUBSCRIBE, {
        sub: 1,
        group,
        topic,
        mode: 'concurrent',
        prefetch: 10,
        maxReconsumeTimes: 3,
        startFrom: 'earliest',
        memberId: 'm-1',
      });
      await client.waitFor((frame) => frame.t === FrameType.EVENT && (frame as EventFrame).op === ServerEvent.DELIVER);
      client.destroy(); // Nothing acked.
      await client.closedPromise;

      const transport = new RemoteTransport({ kind: 'remote', url: server.url, token: TOKEN });
      await transport.connect();
      const got = new Set<string>();
      const sub = await transport.subscribe(
        { group, topic, mode: 'concurrent', prefetch: 10, maxReconsumeTimes: 3, startFrom: 'earliest' },
        async (message) => {
          got.add(message.id);
        },
      );
      for (let waited = 0; got.size < ids.length && waited < 10_000; waited += 20)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect([...got].sort()).toEqual([...ids].sort());
      await sub.close(1_000);
      await transport.close();
    });
  });

  it('is healthy after all of the above', async () => {
    await assertHealthy(server);
  });
});

describe('broker server: limits and timeouts', () => {
  it('refuses hellos beyond the per-client and total limits with TOO_MANY_CONNECTIONS', async () => {
    const server = await startServer({ maxConnections: 3, maxConnectionsPerClient: 2 });
    const port = server.address.port;
    const held = [await RawBrokerClient.open(port, TOKEN), await RawBrokerClient.open(port, TOKEN)];
    const third = await RawBrokerClient.connect(port);
    third.request(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN });
    const perClient = await third.expectFatal();
    expect(perClient.e.code).toBe(ProtocolErrorCode.TOO_MANY_CONNECTIONS);
    expect(perClient.e.message).toContain('127.0.0.1');
    // Another loopback address is another client; it still counts toward the total.
    const other = await connectFrom('127.0.0.2', port);
    expect((await other.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN })).t).toBe(FrameType.RESPONSE);
    const overTotal = await connectFrom('127.0.0.3', port);
    overTotal.request(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN });
    const total = await overTotal.expectFatal();
    expect(total.e.code).toBe(ProtocolErrorCode.TOO_MANY_CONNECTIONS);
    expect(total.e.message).toContain('limit of 3');
    for (const client of [...held, other]) client.destroy();
    await Promise.all([...held, other].map((client) => client.closedPromise));
    // Slots come back once connections close.
    for (let waited = 0; server.connectionCount > 0 && waited < 3_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await RawBrokerClient.open(port, TOKEN);
    again.destroy();
  });

  it('counts connections before their hello apart: the oldest silent one makes room, a waiting hello does not', async () => {
    const server = await startServer({ maxHandshakesPerClient: 3, maxHandshakes: 5, authFailureBurst: 1 });
    const port = server.address.port;
    const accepted = (count: number): Promise<void> =>
      waitFor(() => server.connectionCount >= count, `${count} connections accepted`);
    const silent: RawBrokerClient[] = [];
    for (const count of [1, 2, 3]) {
      silent.push(await connectFrom('127.0.0.4', port));
      await accepted(count);
    }
    // A fourth from that address closes the oldest silent one, and its own hello passes.
    const client = await connectFrom('127.0.0.4', port);
    expect((await silent[0]!.expectFatal()).e.code).toBe(ProtocolErrorCode.HANDSHAKE_TIMEOUT);
    expect((await client.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN })).t).toBe(
      FrameType.RESPONSE,
    );
    // Over the total (two silent ones left, and three more from elsewhere), the oldest silent one of any address goes.
    const elsewhere: RawBrokerClient[] = [];
    for (const address of ['127.0.0.5', '127.0.0.5', '127.0.0.6']) {
      elsewhere.push(await connectFrom(address, port));
      await accepted(3 + elsewhere.length);
    }
    expect(silent[1]!.closed).toBe(false);
    elsewhere.push(await connectFrom('127.0.0.6', port));
    expect((await silent[1]!.expectFatal()).e.code).toBe(ProtocolErrorCode.HANDSHAKE_TIMEOUT);
    expect(elsewhere.some((one) => one.closed)).toBe(false);
    for (const one of [...silent, ...elsewhere, client]) one.destroy();
  });

  it('reads a hello and the calls sent behind it in one write, then lifts the hello-sized frame limit', async () => {
    const server = await startServer();
    const client = await RawBrokerClient.connect(server.address.port);
    client.writeBytes(
      Buffer.concat([
        encodeFrame({
          t: FrameType.REQUEST,
          id: 1,
          op: ClientOp.HELLO,
          a: { protocol: PROTOCOL_VERSION, token: TOKEN },
        }),
        encodeFrame({ t: FrameType.REQUEST, id: 2, op: ClientOp.PING, a: { pad: 'x'.repeat(64 * 1024) } }),
        encodeFrame({ t: FrameType.REQUEST, id: 3, op: ClientOp.TOPIC_LIST, a: {} }),
      ]),
    );
    for (const id of [1, 2, 3])
      expect((await client.waitFor((frame) => 'id' in frame && frame.id === id)).t).toBe(FrameType.RESPONSE);
    client.destroy();
  });

  it('reads a hello that arrives a byte at a time', async () => {
    const server = await startServer();
    const client = await RawBrokerClient.connect(server.address.port);
    const hello = encodeFrame({
      t: FrameType.REQUEST,
      id: 1,
      op: ClientOp.HELLO,
      a: { protocol: PROTOCOL_VERSION, token: TOKEN },
    });
    for (const byte of hello) {
      client.writeBytes(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await client.waitFor((frame) => 'id' in frame && frame.id === 1)).t).toBe(FrameType.RESPONSE);
    expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
    client.destroy();
  });

  it('refuses a frame larger than a hello before the hello, from its length prefix', async () => {
    const server = await startServer();
    const client = await RawBrokerClient.connect(server.address.port);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_HELLO_FRAME_BYTES + 1, 0);
    client.writeBytes(header);
    const error = await client.expectFatal();
    expect(error.e.code).toBe(ProtocolErrorCode.FRAME_TOO_LARGE);
    expect(error.e.message).toContain('before hello');
  });

  it('answers one wrong token per refill interval after a burst, and a right one at once', async () => {
    const server = await startServer({ authFailureBurst: 2, authFailureRefillMs: 400 });
    const port = server.address.port;
    const started = Date.now();
    const guesses = await Promise.all(
      [1, 2, 3, 4].map(async (guess) => {
        const client = await connectFrom('127.0.0.6', port);
        client.request(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: `guess-${guess}-wrong` });
        const error = await client.expectFatal(3_000);
        return { code: error.e.code, ms: Date.now() - started };
      }),
    );
    expect(guesses.map((guess) => guess.code)).toEqual(Array(4).fill(ProtocolErrorCode.UNAUTHORIZED));
    const times = guesses.map((guess) => guess.ms).sort((a, b) => a - b);
    // Two at once, then one per 400 ms.
    expect(times[1]).toBeLessThan(300);
    expect(times[2]).toBeGreaterThanOrEqual(350);
    expect(times[3]).toBeGreaterThanOrEqual(750);
    // Another address is not slowed.
    const other = await connectFrom('127.0.0.7', port);
    const at = Date.now();
    expect((await other.call(ClientOp.HELLO, { protocol: PROTOCOL_VERSION, token: TOKEN })).t).toBe(FrameType.RESPONSE);
    expect(Date.now() - at).toBeLessThan(300);
    other.destroy();
  });

  it('closes a connection that never says hello', async () => {
    const server = await startServer({ handshakeTimeoutMs: 300 });
    const client = await RawBrokerClient.connect(server.address.port);
    const error = await client.expectFatal(3_000);
    expect(error.e.code).toBe(ProtocolErrorCode.HANDSHAKE_TIMEOUT);
  });

  it('closes a connection that goes silent (idle or half-open)', async () => {
    const server = await startServer({ heartbeatMs: 100, idleTimeoutMs: 400 });
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    const error = await client.expectFatal(3_000);
    expect(error.e.code).toBe(ProtocolErrorCode.IDLE_TIMEOUT);
  });

  it('closes a connection that drips a frame too slowly, even though bytes keep coming', async () => {
    const server = await startServer({ heartbeatMs: 100, idleTimeoutMs: 10_000, frameTimeoutMs: 400 });
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    const whole = encodeFrame({ t: FrameType.REQUEST, id: 5, op: 'ping', a: { pad: 'x'.repeat(200) } });
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < whole.length - 1) client.writeBytes(whole.subarray(sent, ++sent));
    }, 50);
    try {
      const error = await client.expectFatal(3_000);
      expect(error.e.code).toBe(ProtocolErrorCode.FRAME_TIMEOUT);
    } finally {
      clearInterval(drip);
    }
  });

  it('cuts off a client that does not read, and hands its deliveries to others', async () => {
    const server = await startServer({ maxWriteBufferBytes: 4 * 1024 * 1024, heartbeatMs: 200, idleTimeoutMs: 1_500 });
    const topic = `slow-${randomUUID().slice(0, 8)}`;
    const group = `slow-${randomUUID().slice(0, 8)}`;
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    await client.call(ClientOp.TOPIC_ENSURE, { topic, queueCount: 1 });
    // 24 MiB of deliveries: more than the kernel's socket buffers on loopback hold, so the broker's own queue grows.
    const ids = Array.from({ length: 48 }, () => randomUUID());
    for (let at = 0; at < ids.length; at += 8) {
      const answer = await client.call(ClientOp.PUBLISH, {
        messages: ids.slice(at, at + 8).map((id) => ({ id, topic, body: Buffer.alloc(512 * 1024, 7) })),
      });
      expect(answer.t).toBe(FrameType.RESPONSE);
    }
    client.socket.pause(); // Stops reading; it still pings, so only its reading is at fault.
    const pinger = setInterval(() => client.request(ClientOp.PING, {}), 100);
    client.request(ClientOp.SUBSCRIBE, {
      sub: 1,
      group,
      topic,
      mode: 'concurrent',
      prefetch: 48,
      maxReconsumeTimes: 3,
      startFrom: 'earliest',
      memberId: 'slow',
    });
    for (let waited = 0; server.connectionCount > 0 && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(pinger);
    expect(server.connectionCount).toBe(0);
    client.destroy();

    const transport = new RemoteTransport({ kind: 'remote', url: server.url, token: TOKEN });
    await transport.connect();
    const got = new Set<string>();
    const sub = await transport.subscribe(
      { group, topic, mode: 'concurrent', prefetch: 8, maxReconsumeTimes: 3, startFrom: 'earliest' },
      async (message) => {
        got.add(message.id);
      },
    );
    for (let waited = 0; got.size < ids.length && waited < 10_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got.size).toBe(ids.length);
    await sub.close(1_000);
    await transport.close();
  });

  it('refuses to start without a token unless explicitly allowed on loopback', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-broker-notoken-'));
    roots.push(dataDir);
    await expect(
      BrokerServer.start(brokerConfig({ dataDir, port: 0 }), { logger: silentBrokerLogger }),
    ).rejects.toThrow(/token/i);
    await expect(
      BrokerServer.start(brokerConfig({ dataDir, port: 0, host: '0.0.0.0', allowNoToken: true }), {
        logger: silentBrokerLogger,
      }),
    ).rejects.toThrow(/loopback/);
    const warnings: string[] = [];
    const open = await BrokerServer.start(brokerConfig({ dataDir, port: 0, allowNoToken: true }), {
      logger: { ...silentBrokerLogger, warn: (message) => warnings.push(message) },
    });
    servers.push(open);
    expect(warnings.join('\n')).toMatch(/WITHOUT a token/);
    const client = await RawBrokerClient.open(open.address.port);
    expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
    client.destroy();
  });
});

async function waitFor(predicate: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !predicate(); waited += 10) {
    if (waited > 3_000) throw new Error(`Timed out waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function connectFrom(localAddress: string, port: number): Promise<RawBrokerClient> {
  return RawBrokerClient.connect(port, '127.0.0.1', localAddress);
}
