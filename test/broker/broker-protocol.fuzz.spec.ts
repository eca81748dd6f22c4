import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClientOp, encodeFrame, FrameDecoder, FrameType, PROTOCOL_VERSION, type Frame } from '@reliable-mq/protocol';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { waitUntil } from '../support/wait-until';

/**
 * Protocol fuzzing against a real broker process: at least 10,000 random and mutated frames, in short connections,
 * most of them after a valid hello so the calls behind it are reached. Whatever arrives, the broker stays up, every
 * byte it sends back is a valid frame, it closes each connection it was sent garbage on (or that the client ends),
 * its memory stays bounded, and afterwards it still publishes and delivers.
 *
 * BROKER_FUZZ_SEED replays a run; BROKER_FUZZ_FRAMES raises the count.
 */

const MIN_FRAMES = Math.max(10_000, Number(process.env.BROKER_FUZZ_FRAMES ?? 0));
const SEED = Number(process.env.BROKER_FUZZ_SEED ?? Date.now() % 1_000_000_007);
const CONCURRENCY = 8;
const CASE_LIMIT_MS = 5_000;
/** RSS may grow this much over the run (allocator slack, JIT); a leak per frame would exceed it many times over. */
const RSS_GROWTH_LIMIT_BYTES = 192 * 1024 * 1024;

let broker: BrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-fuzz-'));
  broker = await BrokerProcess.start({ dataDir, healthPort: 0, env: { BROKER_TOPICS: 'fuzz:2' } });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const OPS = [...Object.values(ClientOp), 'tx.check', 'deliver', 'x', ''];
const hello = (): Buffer =>
  encodeFrame({
    t: FrameType.REQUEST,
    id: 1,
    op: ClientOp.HELLO,
    a: { protocol: PROTOCOL_VERSION, token: TEST_BROKER_TOKEN },
  });

function framed(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** Argument maps that look like the real calls, with any field possibly of a wrong type. */
const loose = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 64 }),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
);
const plausibleArgs = fc.record(
  {
    topic: fc.oneof(fc.constant('fuzz'), fc.string({ maxLength: 12 }), loose),
    group: fc.oneof(fc.constant('fuzz-group'), loose),
    sub: fc.oneof(fc.integer({ min: 1, max: 5 }), loose),
    tag: fc.oneof(fc.integer({ min: 1, max: 50 }), loose),
    id: fc.oneof(fc.uuid(), fc.integer({ min: 0, max: 100 }), loose),
    ids: fc.oneof(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 4 }), loose),
    txId: fc.oneof(fc.uuid(), loose),
    mode: fc.oneof(fc.constantFrom('concurrent', 'orderly'), loose),
    prefetch: fc.oneof(fc.integer({ min: 0, max: 20 }), loose),
    maxReconsumeTimes: fc.oneof(fc.integer({ min: -1, max: 3 }), loose),
    startFrom: fc.oneof(fc.constantFrom('earliest', 'latest'), loose),
    producerGroup: fc.oneof(fc.constant('fuzz-producer'), loose),
    checker: fc.oneof(fc.integer({ min: 1, max: 3 }), loose),
    reason: loose,
    message: loose,
    messages: fc.oneof(
      fc.array(
        fc.record(
          {
            id: fc.oneof(fc.uuid(), loose),
            topic: fc.oneof(fc.constant('fuzz'), loose),
            body: fc.oneof(fc.uint8Array({ maxLength: 256 }), loose),
            headers: loose,
            tags: loose,
            key: loose,
          },
          { requiredKeys: [] },
        ),
        { maxLength: 4 },
      ),
      loose,
    ),
  },
  { requiredKeys: [] },
);

const structuredFrame = fc
  .record(
    {
      t: fc.oneof(fc.constantFrom(1, 2, 3, 4), fc.integer({ min: -2, max: 9 }), loose),
      id: fc.oneof(fc.nat(1000), fc.integer({ min: -5, max: 5 }), loose),
      op: fc.oneof(fc.constantFrom(...OPS), fc.string({ maxLength: 70 }), loose),
      a: fc.oneof(plausibleArgs, loose, fc.anything({ maxDepth: 3 })),
      r: fc.anything({ maxDepth: 2 }),
      e: fc.oneof(fc.record({ code: fc.string(), message: fc.string() }), loose),
    },
    { requiredKeys: ['t'] },
  )
  .map((value) => framed(encode(value)));

const validFrames = (): Buffer[] => [
  encodeFrame({
    t: FrameType.REQUEST,
    id: 2,
    op: ClientOp.PUBLISH,
    a: { messages: [{ id: randomUUID(), topic: 'fuzz', body: Buffer.from('payload'), headers: { h: 'v' } }] },
  }),
  encodeFrame({
    t: FrameType.REQUEST,
    id: 3,
    op: ClientOp.SUBSCRIBE,
    a: {
      sub: 1,
      group: 'fuzz-group',
      topic: 'fuzz',
      mode: 'concurrent',
      prefetch: 4,
      maxReconsumeTimes: 1,
      startFrom: 'earliest',
    },
  }),
  encodeFrame({ t: FrameType.REQUEST, id: 0, op: ClientOp.ACK, a: { tag: 1 } }),
  encodeFrame({ t: FrameType.REQUEST, id: 4, op: ClientOp.DLQ_LIST, a: { group: 'fuzz-group', limit: 5 } }),
  encodeFrame({
    t: FrameType.REQUEST,
    id: 5,
    op: ClientOp.TX_SEND,
    a: { producerGroup: 'fuzz-producer', message: { id: randomUUID(), topic: 'fuzz', body: Buffer.from('h') } },
  }),
  encodeFrame({ t: FrameType.RESPONSE, id: 1, r: { outcome: 'commit' } }),
  encodeFrame({ t: FrameType.REQUEST, id: 6, op: ClientOp.STATS, a: {} }),
  hello(),
];

const mutatedFrame = fc
  .record({
    base: fc.nat(validFrames().length - 1),
    kind: fc.constantFrom('flip', 'truncate', 'extend', 'length', 'splice', 'duplicate'),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
    extra: fc.uint8Array({ minLength: 1, maxLength: 32 }),
  })
  .map(({ base, kind, at, value, extra }) => {
    const bytes = Buffer.from(validFrames()[base]!);
    const position = at % bytes.length;
    switch (kind) {
      case 'flip':
        bytes[position] = bytes[position]! ^ (1 << (value % 8));
        return bytes;
      case 'truncate':
        return bytes.subarray(0, position);
      case 'extend':
        return Buffer.concat([bytes, Buffer.from(extra)]);
      case 'length':
        bytes.writeUInt32BE((bytes.readUInt32BE(0) + value - 128) >>> 0, 0);
        return bytes;
      case 'splice':
        return Buffer.concat([bytes.subarray(0, position), Buffer.from(extra), bytes.subarray(position)]);
      default:
        return Buffer.concat([bytes, bytes]);
    }
  });

const rawBytes = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes));
const framedNoise = fc.uint8Array({ maxLength: 300 }).map((bytes) => framed(bytes));
const anyMsgpack = fc.anything({ maxDepth: 3 }).map((value) => framed(encode(value)));

const fuzzFrame = fc.oneof(
  { weight: 4, arbitrary: structuredFrame },
  { weight: 4, arbitrary: mutatedFrame },
  { weight: 1, arbitrary: rawBytes },
  { weight: 1, arbitrary: framedNoise },
  { weight: 1, arbitrary: anyMsgpack },
);

const fuzzCase = fc.record({ afterHello: fc.boolean(), frames: fc.array(fuzzFrame, { minLength: 1, maxLength: 8 }) });

interface CaseResult {
  answered: number;
  closedByBroker: boolean;
}

/** One connection: optional hello, the fuzzed frames, then a half-close. Everything the broker sends must decode. */
function runCase(port: number, afterHello: boolean, frames: Buffer[]): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    const received: Frame[] = [];
    let failure: Error | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`The broker neither answered nor closed within ${CASE_LIMIT_MS} ms.`));
    }, CASE_LIMIT_MS);
    socket.on('data', (chunk: Buffer) => {
      try {
        received.push(...decoder.push(chunk));
      } catch (error) {
        failure = new Error(`The broker sent bytes that are not valid frames: ${(error as Error).message}`);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else
        resolve({
          answered: received.length,
          closedByBroker: received.some((frame) => frame.t === FrameType.ERROR && frame.e.fatal === true),
        });
    });
    socket.once('connect', () => {
      if (afterHello) socket.write(hello());
      for (const frame of frames) socket.write(frame);
      socket.end(); // The broker must finish with what it got and close, not wait for the rest of a frame.
    });
  });
}

async function health(): Promise<{
  state: string;
  connections: number;
  memory: { rssBytes: number; heapUsedBytes: number };
}> {
  const response = await fetch(`http://127.0.0.1:${broker.ready.healthPort}/health`);
  expect(response.status).toBe(200);
  return (await response.json()) as never;
}

it(`survives ${MIN_FRAMES}+ random and mutated frames (seed ${SEED}) and keeps its memory bounded`, async () => {
  const cases = fc.sample(fuzzCase, { numRuns: Math.ceil(MIN_FRAMES / 3), seed: SEED });
  let frames = 0;
  let fatal = 0;
  let answered = 0;
  const rss: number[] = [];
  // A warm-up so the baseline includes the JIT and the engine's caches.
  for (const one of cases.slice(0, 50)) await runCase(broker.port, one.afterHello, one.frames);
  const baseline = (await health()).memory.rssBytes;
  for (let start = 0; start < cases.length; start += CONCURRENCY) {
    const batch = cases.slice(start, start + CONCURRENCY);
    const results = await Promise.all(
      batch.map((one, index) =>
        runCase(broker.port, one.afterHello, one.frames).catch((error: Error) => {
          throw new Error(`Case ${start + index} (seed ${SEED}): ${error.message}`);
        }),
      ),
    );
    for (const [index, result] of results.entries()) {
      frames += batch[index]!.frames.length;
      answered += result.answered;
      if (result.closedByBroker) fatal++;
    }
    if (start % (CONCURRENCY * 50) === 0) rss.push((await health()).memory.rssBytes);
    expect(broker.running).toBe(true);
  }
  const after = await health();
  rss.push(after.memory.rssBytes);
  console.log(
    `Protocol fuzz (seed ${SEED}): ${frames} frames in ${cases.length} connections; ${answered} frames answered, ` +
      `${fatal} connections closed with a fatal error; RSS ${mb(baseline)} → max ${mb(Math.max(...rss))} → ${mb(after.memory.rssBytes)} MiB.`,
  );
  expect(frames).toBeGreaterThanOrEqual(MIN_FRAMES);
  expect(fatal).toBeGreaterThan(cases.length / 4);
  expect(Math.max(...rss) - baseline).toBeLessThan(RSS_GROWTH_LIMIT_BYTES);
  await waitUntil(async () => (await health()).connections === 0, 'every fuzz connection to be gone', 10_000, 100);

  // And it still works.
  const transport = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN });
  await transport.connect();
  try {
    const got: string[] = [];
    const sub = await transport.subscribe(
      {
        group: `after-fuzz-${randomUUID().slice(0, 6)}`,
        topic: 'fuzz',
        mode: 'concurrent',
        prefetch: 8,
        maxReconsumeTimes: 1,
        startFrom: 'latest',
      },
      async (message) => {
        got.push(message.id);
      },
    );
    const id = randomUUID();
    await transport.publish([{ id, topic: 'fuzz', headers: {}, body: Buffer.from('still here') }]);
    await waitUntil(() => got.includes(id), 'a delivery after the fuzzing');
    await sub.close(1_000);
  } finally {
    await transport.close();
  }
}, 300_000);

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
