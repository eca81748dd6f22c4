import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportError } from '@reliable-mq/nestjs';
import { RemoteTransport } from '@reliable-mq/nestjs';
import type { InboundMessage, SubscriptionSpec, TransportMessage } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { TcpProxy } from '../support/tcp-proxy';
import { waitUntil } from '../support/wait-until';

/**
 * The remote transport across broker restarts and broken paths: it reconnects with backoff, subscribes again under
 * the same member, registers its checkers again, and fails calls in flight so that the caller (the relay) re-sends
 * them; the broker's idempotent publish turns those re-sends into duplicates confirmed, never duplicates delivered.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-reconnect-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startBroker(dir: string, port?: number, env?: Record<string, string>): Promise<BrokerProcess> {
  const broker = await BrokerProcess.start({ dataDir: dir, port, env: { BROKER_TOPICS: 'events:4', ...env } });
  cleanups.push(() => broker.kill());
  return broker;
}

function transportFor(url: string): RemoteTransport {
  const transport = new RemoteTransport(
    {
      kind: 'remote',
      url,
      token: TEST_BROKER_TOKEN,
      reconnectDelayMs: 50,
      reconnectMaxDelayMs: 500,
      connectTimeoutMs: 10_000,
    },
    { onWarning: () => undefined, onError: () => undefined },
  );
  cleanups.push(() => transport.close());
  return transport;
}

const message = (body = 'x', extra: Partial<TransportMessage> = {}): TransportMessage => ({
  id: randomUUID(),
  topic: 'events',
  headers: {},
  body: Buffer.from(body),
  ...extra,
});

/** A broker on a fresh data directory, and a transport connected to it. */
async function connectedBroker(
  env?: Record<string, string>,
): Promise<{ dir: string; broker: BrokerProcess; port: number; transport: RemoteTransport }> {
  const dir = dataDir();
  const broker = await startBroker(dir, undefined, env);
  const transport = transportFor(broker.url);
  await transport.connect();
  return { dir, broker, port: broker.port, transport };
}

/** A concurrent subscription to `events` from the earliest offset; `onMessage` sees each delivery. */
async function subscribeFromEarliest(
  transport: RemoteTransport,
  spec: Pick<SubscriptionSpec, 'group' | 'prefetch' | 'maxReconsumeTimes'> & Partial<SubscriptionSpec>,
  onMessage: (inbound: InboundMessage) => void,
): Promise<void> {
  await transport.subscribe(
    { topic: 'events', mode: 'concurrent', startFrom: 'earliest', ...spec },
    async (inbound) => {
      onMessage(inbound);
    },
  );
}

/** The bodies a member `instance-1` of `group` receives, in order. */
async function collectBodies(transport: RemoteTransport, group: string): Promise<string[]> {
  const got: string[] = [];
  await subscribeFromEarliest(
    transport,
    { group, prefetch: 8, maxReconsumeTimes: 3, consumerId: 'instance-1' },
    (inbound) => {
      got.push(inbound.body.toString());
    },
  );
  return got;
}

describe('remote transport: reconnection', () => {
  it('reconnects after the broker is SIGKILLed and restarted, and its subscription resumes', async () => {
    const { dir, broker, port, transport } = await connectedBroker();
    const got = await collectBodies(transport, 'resume');
    await transport.publish([message('before')]);
    await waitUntil(() => got.includes('before'), 'the first delivery');

    await broker.kill();
    await waitUntil(() => !transport.isConnected, 'the transport to notice');
    await expect(transport.publish([message('while down')])).rejects.toBeInstanceOf(TransportError);

    await startBroker(dir, port);
    await waitUntil(() => transport.isConnected, 'the reconnect', 15_000);
    await transport.publish([message('after')]);
    await waitUntil(() => got.includes('after'), 'a delivery after the restart');
    // An ack is made durable with the next offset flush; one the SIGKILL beat brings 'before' again (at least once,
    // and consumer dedup absorbs it). Nothing after the restart is doubled.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(got.filter((body) => body === 'after')).toHaveLength(1);
    expect(got.filter((body) => body === 'before').length).toBeGreaterThanOrEqual(1);
  });

  it('fails publishes in flight when the broker dies; re-sending them after the restart stores each message once', async () => {
    const { dir, broker, port, transport } = await connectedBroker();

    // Publishers that never pause, so that publishes are in flight whenever the broker dies.
    const sent: TransportMessage[] = [];
    const confirmed = new Set<string>();
    const failed: TransportMessage[] = [];
    const lostInFlight: string[] = [];
    let stop = false;
    const workers = Array.from({ length: 32 }, async (_, worker) => {
      for (let round = 0; !stop && round < 100_000; round++) {
        const one = message(`m-${worker}-${round}`, { key: `k-${worker % 7}` });
        sent.push(one);
        try {
          await transport.publish([one]);
          confirmed.add(one.id);
        } catch (error) {
          expect(error).toBeInstanceOf(TransportError);
          failed.push(one);
          if (/lost before it answered/.test((error as Error).message)) lostInFlight.push(one.id);
          return;
        }
      }
    });
    await waitUntil(() => confirmed.size >= 200, 'some confirms');
    await broker.kill();
    await Promise.all(workers);
    stop = true;
    expect(confirmed.size + failed.length).toBe(sent.length);
    expect(lostInFlight.length).toBeGreaterThan(0);

    await startBroker(dir, port);
    await waitUntil(() => transport.isConnected, 'the reconnect', 15_000);
    // What the relay does: send the unconfirmed ones again. Some may have been stored before the kill.
    const resent = await transport.publish(failed);
    expect(resent.map((confirm) => confirm.id)).toEqual(failed.map((one) => one.id));

    const seen = new Map<string, number>();
    await subscribeFromEarliest(
      transport,
      { group: `check-${randomUUID().slice(0, 6)}`, prefetch: 64, maxReconsumeTimes: 1 },
      (inbound) => {
        seen.set(inbound.id, (seen.get(inbound.id) ?? 0) + 1);
      },
    );
    await waitUntil(() => seen.size >= sent.length, 'every message', 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.size).toBe(sent.length);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  });

  it('registers its checker again after a restart, and the checkback reaches it', async () => {
    const env = {
      BROKER_ENGINE_OPTIONS: JSON.stringify({
        minFreeDiskBytes: 0,
        transactionTimeoutMs: 200,
        checkIntervalMs: 200,
        maintenanceIntervalMs: 20,
      }),
    };
    const { dir, broker, port, transport } = await connectedBroker(env);
    const asked: string[] = [];
    await transport.transactions.registerChecker('orders-producer', async (half) => {
      asked.push(half.messageId);
      return 'commit';
    });
    await broker.kill();
    await startBroker(dir, port, env);
    await waitUntil(() => transport.isConnected, 'the reconnect', 15_000);

    const got: string[] = [];
    await subscribeFromEarliest(transport, { group: 'tx-consumer', prefetch: 4, maxReconsumeTimes: 1 }, (inbound) => {
      got.push(inbound.id);
    });
    const half = message('half');
    await transport.transactions.sendHalf(half, 'orders-producer'); // Never committed by the producer.
    await waitUntil(() => got.includes(half.id), 'the committed half message', 10_000);
    expect(asked).toContain(half.id);
  });

  it('detects a silent (half-open) path, reconnects, and the broker hands the member to the new connection', async () => {
    const dir = dataDir();
    // The client gives up on a path after three silent heartbeats; the broker only after its idle timeout. In between
    // the member reconnects and takes its subscription over from the connection the broker still holds.
    const broker = await startBroker(dir, undefined, { BROKER_HEARTBEAT_MS: '100', BROKER_IDLE_TIMEOUT_MS: '20000' });
    const proxy = await TcpProxy.start(broker.port);
    cleanups.push(() => proxy.close());
    const transport = transportFor(proxy.url);
    await transport.connect();
    const got = await collectBodies(transport, 'half-open');
    await transport.publish([message('one')]);
    await waitUntil(() => got.includes('one'), 'the first delivery');

    expect(proxy.freeze()).toBe(1);
    const frozenAt = Date.now();
    await waitUntil(() => !transport.isConnected, 'the client to notice the silence', 5_000);
    await waitUntil(() => transport.isConnected, 'a new connection', 10_000);
    await transport.publish([message('two')]);
    await waitUntil(() => got.includes('two'), 'a delivery on the new connection', 10_000);
    // Well before the broker's idle timeout: the old connection was superseded, not timed out.
    expect(Date.now() - frozenAt).toBeLessThan(10_000);
    expect(broker.output).toMatch(/reconnected as .*closing/);
  });
});

describe('remote transport: graceful broker shutdown', () => {
  it('SIGTERM lets confirms in flight go out; everything confirmed is there after the restart', async () => {
    const { dir, broker, port, transport } = await connectedBroker();
    const confirmed = new Set<string>();
    let stop = false;
    const producer = (async () => {
      for (let round = 0; !stop && round < 100_000; round++) {
        const batch = [message(`a-${round}`), message(`b-${round}`)];
        try {
          await transport.publish(batch);
          for (const one of batch) confirmed.add(one.id);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    await waitUntil(() => confirmed.size >= 100, 'some confirms');
    const exit = await broker.stop();
    expect(exit.code).toBe(0);
    await startBroker(dir, port);
    await waitUntil(() => transport.isConnected, 'the reconnect', 15_000);
    const before = confirmed.size;
    await waitUntil(() => confirmed.size > before + 10, 'publishing to resume');
    stop = true;
    await producer;

    const seen = new Set<string>();
    await subscribeFromEarliest(
      transport,
      { group: `after-${randomUUID().slice(0, 6)}`, prefetch: 128, maxReconsumeTimes: 1 },
      (inbound) => {
        seen.add(inbound.id);
      },
    );
    await waitUntil(() => [...confirmed].every((id) => seen.has(id)), 'every confirmed message', 20_000);
  });
});
