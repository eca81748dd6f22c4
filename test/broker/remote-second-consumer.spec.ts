import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteTransport } from '@reliable-mq/nestjs';
import type { TransportConfirm, TransportSubscription } from '@reliable-mq/nestjs';
import { ClientOp, FrameType } from '@reliable-mq/protocol';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { RawBrokerClient } from '../support/raw-broker-client';
import { waitUntil } from '../support/wait-until';

/**
 * One broker process serving consumer after consumer, as a benchmark or a rolling deploy does: a run subscribes,
 * consumes and closes, and the next run (new connections) receives what is published to it, whether it joins the same
 * group or another, the same topic or another. A member whose socket is destroyed leaves at once; one whose peer goes
 * silent without closing gives its queues back after the session timeout.
 *
 * Message ids are the broker's dedup keys across all topics: a run that re-sends ids an earlier run already stored
 * gets duplicate confirms and no deliveries. Each run here therefore mints ids of its own.
 */

const QUEUES = 4;
/** Short liveness settings, so that a silent member expires well within a test: pings every 200 ms. */
const HEARTBEAT_MS = 200;
const SESSION_TIMEOUT_MS = 2_500;
/** Far above the session timeout: a silent connection is still open when its member has expired. */
const IDLE_TIMEOUT_MS = 60_000;
const DELIVERY_TIMEOUT_MS = 10_000;

let broker: BrokerProcess;
let dir: string;
let seq = 0;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rmq-second-consumer-'));
  broker = await BrokerProcess.start({
    dataDir: dir,
    env: {
      BROKER_TOPICS: `bench:${QUEUES}`,
      BROKER_HEARTBEAT_MS: String(HEARTBEAT_MS),
      BROKER_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      BROKER_ENGINE_OPTIONS: JSON.stringify({ defaultQueueCount: QUEUES, sessionTimeoutMs: SESSION_TIMEOUT_MS }),
    },
  });
}, 60_000);

afterAll(async () => {
  for (const item of open.splice(0).reverse()) await item.close().catch(() => undefined);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<RemoteTransport> {
  const transport = new RemoteTransport(
    { kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN },
    { onWarning: () => undefined, onError: () => undefined },
  );
  open.push(transport);
  await transport.connect();
  return transport;
}

const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${seq++}-${randomUUID().slice(0, 8)}`;

/** A run shaped like the benchmark's end-to-end rig: its own publisher and consumer connections, closed in order. */
interface Run {
  topic: string;
  received: string[];
  /** Publishes `count` messages concurrently, one per call; ids come from `idOf(n)`. */
  publish(count: number, idOf?: (n: number) => string): Promise<TransportConfirm[]>;
  close(): Promise<void>;
}

async function startRun(group: string, topic: string): Promise<Run> {
  const publisher = await client();
  const consumer = await client();
  await publisher.ensureTopic(topic);
  const received: string[] = [];
  const subscription: TransportSubscription = await consumer.subscribe(
    { group, topic, mode: 'concurrent', prefetch: 32, maxReconsumeTimes: 3, startFrom: 'earliest' },
    async (message) => {
      received.push(message.body.toString());
    },
  );
  const runId = randomUUID();
  let sent = 0;
  return {
    topic,
    received,
    publish: async (count, idOf = (n) => `${runId}-${n}`) => {
      const confirms = await Promise.all(
        Array.from({ length: count }, () => {
          const n = sent++;
          return publisher.publish([
            { id: idOf(n), topic, key: `order-${n}`, headers: {}, body: Buffer.from(`${topic}:${n}`) },
          ]);
        }),
      );
      return confirms.flat();
    },
    close: async () => {
      await subscription.close(2_000);
      await consumer.close();
      await publisher.close();
    },
  };
}

/** Joins `group` on `topic` over a raw connection, as a member that the test then ends or leaves silent. */
async function joinAsMember(raw: RawBrokerClient, group: string, topic: string, memberId: string): Promise<void> {
  const answer = await raw.call(ClientOp.SUBSCRIBE, {
    sub: 1,
    group,
    topic,
    mode: 'concurrent',
    prefetch: 32,
    maxReconsumeTimes: 3,
    startFrom: 'earliest',
    memberId,
  });
  expect(answer.t).toBe(FrameType.RESPONSE);
}

async function expectDelivered(run: Run, count: number): Promise<void> {
  await waitUntil(
    () => run.received.length >= count,
    `${count} messages on ${run.topic} (got ${run.received.length})`,
    DELIVERY_TIMEOUT_MS,
  );
  expect(new Set(run.received).size).toBe(count);
}

describe('one broker process, consumer after consumer', () => {
  it('runs one after another in the same group, each on a fresh topic, all receive their messages', async () => {
    const group = uniqueName('e2e');
    for (const count of [300, 300, 100]) {
      const run = await startRun(group, uniqueName('bench'));
      const confirms = await run.publish(count);
      expect(confirms.filter((confirm) => confirm.duplicate)).toEqual([]);
      await expectDelivered(run, count);
      await run.close();
    }
  }, 60_000);

  it('a second run in the same group on the same topic receives the new messages only', async () => {
    const group = uniqueName('same');
    const topic = uniqueName('bench');
    const first = await startRun(group, topic);
    await first.publish(200);
    await expectDelivered(first, 200);
    await first.close();

    const second = await startRun(group, topic);
    await second.publish(200);
    await expectDelivered(second, 200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(second.received).toHaveLength(200);
    await second.close();
  }, 60_000);

  it('a second run in another group on another topic receives its messages', async () => {
    const first = await startRun(uniqueName('g1'), uniqueName('bench'));
    await first.publish(200);
    await expectDelivered(first, 200);
    await first.close();

    const second = await startRun(uniqueName('g2'), uniqueName('bench'));
    await second.publish(200);
    await expectDelivered(second, 200);
    await second.close();
  }, 60_000);

  it('ids an earlier run stored are confirmed as duplicates, even on another topic, and are not delivered again', async () => {
    // The ids the benchmark's end-to-end rig minted: a counter that starts again at 0 in every rig.
    const rigIds = (n: number): string => `e-${n}-${-1 - n}`;
    const prefix = uniqueName('ids');
    const group = uniqueName('dup');
    const warnings = (): number => broker.output.split('Message ids must be unique across all topics').length - 1;
    const first = await startRun(group, uniqueName('bench'));
    const firstConfirms = await first.publish(50, (n) => `${prefix}-${rigIds(n)}`);
    expect(firstConfirms.every((confirm) => !confirm.duplicate)).toBe(true);
    await expectDelivered(first, 50);
    // A re-send on the same topic (a relay after a lost confirm) is an ordinary duplicate: nothing to warn about.
    const before = warnings();
    const resent = await first.publish(1, () => `${prefix}-${rigIds(0)}`);
    expect(resent[0]!.duplicate).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(warnings()).toBe(before);
    await first.close();

    const second = await startRun(group, uniqueName('bench'));
    const secondConfirms = await second.publish(50, (n) => `${prefix}-${rigIds(n)}`);
    expect(secondConfirms.every((confirm) => confirm.duplicate)).toBe(true);
    // The broker names the reuse in its log, with an id and both topics.
    await waitUntil(() => warnings() > before, 'the broker to warn of ids reused across topics');
    expect(broker.output).toContain(`"${prefix}-${rigIds(0)}" is stored on topic "${first.topic}"`);
    expect(warnings() - before).toBeLessThanOrEqual(50);
    // Fresh ids on the same connections go through at once: the consumer itself is served.
    await second.publish(50);
    await expectDelivered(second, 50);
    expect(second.received.every((body) => Number(body.split(':')[1]) >= 50)).toBe(true);
    await second.close();
  }, 60_000);

  it('a member whose socket is destroyed leaves at once: the next consumer of its group gets every queue', async () => {
    const group = uniqueName('gone');
    const topic = uniqueName('bench');
    const setup = await client();
    await setup.ensureTopic(topic);
    const raw = await RawBrokerClient.open(broker.port, TEST_BROKER_TOKEN);
    await joinAsMember(raw, group, topic, uniqueName('destroyed'));
    raw.destroy();

    const started = Date.now();
    const run = await startRun(group, topic);
    await run.publish(200);
    await expectDelivered(run, 200);
    // Long before the session timeout: the closed socket ended the member.
    expect(Date.now() - started).toBeLessThan(SESSION_TIMEOUT_MS);
    await run.close();
  }, 60_000);

  it('a member whose peer goes silent without closing gives its queues back after the session timeout', async () => {
    const group = uniqueName('silent');
    const topic = uniqueName('bench');
    const setup = await client();
    await setup.ensureTopic(topic);
    // Subscribes, then never sends again (no pings, no acks) and never closes.
    const silent = await RawBrokerClient.open(broker.port, TEST_BROKER_TOKEN);
    open.push({ close: async () => silent.destroy() });
    await joinAsMember(silent, group, topic, uniqueName('silent'));

    const run = await startRun(group, topic);
    // Past the session timeout: the silent member has expired and the live one owns every queue.
    await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS + 1_500));
    await run.publish(200);
    await expectDelivered(run, 200);
    await run.close();
  }, 60_000);
});
