import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { RABBITMQ_URL, describeWithService, serviceEndpoint, uniqueName } from '../../../../../test/support/services';
import { CuttableTcpProxy } from '../../../../../test/support/cuttable-tcp-proxy';
import { TcpProxy } from '../../../../../test/support/tcp-proxy';
import { TransportError } from '../../errors/transport.error';
import { TransportUnavailableError } from '../../errors/transport-unavailable.error';
import { deleteRabbitMqObjects } from '../../../../../test/support/rabbitmq-admin';
import type { InboundMessage } from '../transport.interface';
import { RabbitMqConnection } from './rabbitmq-connection';
import { redactUrl, resolveRabbitMqOptions } from './rabbitmq-options.resolver';
import { RabbitMqTransport } from './rabbitmq.transport';
import {
  message,
  rabbitMqTransportsClosedAfterEach,
  sleep,
  spec,
  until,
  type Logged,
} from '../../../test/rabbitmq-transports';

const transport = rabbitMqTransportsClosedAfterEach();
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describeWithService('rabbitmq', 'RabbitMQ transport connection', () => {
  it('fails to start with a sentence naming the URL (without its password) when RabbitMQ is not there', async () => {
    const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
    await proxy.start();
    proxy.cut();
    const unreachable = new RabbitMqTransport({
      kind: 'rabbitmq',
      url: proxy.urlFor('amqp://guest:hidden@127.0.0.1:5672'),
      connectTimeoutMs: 600,
    });
    try {
      const error = await unreachable.connect().then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(TransportError);
      expect((error as Error).message).toMatch(
        /Cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+.*start RabbitMQ or fix transport\.url \/ RABBITMQ_URL/,
      );
      expect((error as Error).message).not.toContain('hidden');
    } finally {
      await unreachable.close();
      await proxy.stop();
    }
    const wrongPassword = new RabbitMqTransport({
      kind: 'rabbitmq',
      url: 'amqp://guest:wrong@127.0.0.1:5672',
      connectTimeoutMs: 20_000,
    });
    const started = Date.now();
    const refused = await wrongPassword.connect().then(
      () => null,
      (caught: unknown) => caught,
    );
    await wrongPassword.close();
    expect((refused as Error).message).toMatch(/Check the user, password and vhost/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('starts in the background while RabbitMQ refuses, reports each connection change, and is connected within a second of its return', async () => {
    const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
    await proxy.start();
    proxy.cut();
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const warnings: string[] = [];
    // A long maximum delay: only the cap for refused attempts keeps them frequent.
    const bus = new RabbitMqTransport(
      {
        kind: 'rabbitmq',
        url: proxy.urlFor(RABBITMQ_URL),
        prefix: uniqueName('rmqb'),
        topics: [topic],
        reconnect: { initialDelayMs: 50, maxDelayMs: 10_000 },
      },
      { logger: { log: () => undefined, warn: (line) => warnings.push(line), error: (line) => warnings.push(line) } },
    );
    const changes: Array<{ connected: boolean; at: number }> = [];
    bus.onConnectionChange((connected) => changes.push({ connected, at: Date.now() }));
    try {
      const started = Date.now();
      const result = await bus.connectInBackground();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(result.connected).toBe(false);
      expect(bus.isConnected).toBe(false);
      const refused = await bus.publish([message(topic, 'too early')]).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(refused).toBeInstanceOf(TransportUnavailableError);

      // Long enough for an uncapped backoff to have grown to seconds.
      await sleep(2_500);
      const attemptsBefore = proxy.refusals;
      expect(attemptsBefore).toBeGreaterThanOrEqual(8);
      proxy.restore();
      const openedAt = Date.now();
      await until(() => changes.some((change) => change.connected), 'the first connection', 5_000);
      const firstUp = changes.find((change) => change.connected)!.at - openedAt;
      expect(firstUp).toBeLessThan(1_000);
      // The configured topic was declared on that connection: a group can bind and receive.
      const got: string[] = [];
      await bus.subscribe(spec(topic, 'late-start', { startFrom: 'earliest' }), async (inbound) => {
        got.push(inbound.body.toString());
      });
      await bus.publish([message(topic, 'after')]);
      await until(() => got.includes('after'), 'a delivery');

      proxy.cut();
      await until(() => changes.at(-1)?.connected === false, 'the loss to be reported');
      await sleep(1_500);
      proxy.restore();
      const reopenedAt = Date.now();
      await until(() => changes.at(-1)?.connected === true, 'the reconnection', 5_000);
      const secondUp = changes.at(-1)!.at - reopenedAt;
      expect(secondUp).toBeLessThan(1_000);
      expect(changes.map((change) => change.connected)).toEqual([true, false, true]);
      console.log(`[RabbitMQ background start] connected ${firstUp} ms and ${secondUp} ms after the proxy opened`);
    } finally {
      await bus.close();
      await proxy.stop();
      await deleteRabbitMqObjects(bus.declaredTopology());
    }
    // close() ends the news.
    expect(changes).toHaveLength(3);
  });

  it('with several node URLs, connects to one that answers, moves to another when its node goes, and names each', async () => {
    // Three "nodes": proxies in front of the one server, cut one at a time.
    const nodes = [0, 1, 2].map(() => new CuttableTcpProxy(serviceEndpoint('rabbitmq')));
    for (const node of nodes) await node.start();
    nodes[0]!.cut();
    const urls = nodes.map((node) => node.urlFor(RABBITMQ_URL));
    const safe = (index: number): string => redactUrl(urls[index]!);
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const logged: Logged = { logs: [], warnings: [], errors: [] };
    const bus = await transport(
      uniqueName('rmqn'),
      { url: urls.join(','), heartbeatSeconds: 1, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } },
      logged,
    );
    try {
      expect(bus.connectedNode).toBe(safe(1));
      expect(logged.logs).toContain(`Connected to RabbitMQ at node ${safe(1)} (2 of 3).`);
      const got: string[] = [];
      await bus.subscribe(spec(topic, 'mover', { startFrom: 'earliest' }), async (inbound) => {
        got.push(inbound.body.toString());
      });
      const deliveredAfter = async (body: string): Promise<void> => {
        await until(
          async () =>
            bus.publish([message(topic, body)]).then(
              () => true,
              () => false,
            ),
          `a publish of "${body}"`,
        );
        await until(() => got.includes(body), `the delivery of "${body}"`);
      };
      await deliveredAfter('on node 2');

      // Node 2 goes while node 1 is still away: the next node in the list takes over.
      const cutAt = Date.now();
      nodes[1]!.cut();
      await until(() => bus.isConnected && bus.connectedNode === safe(2), 'the move to node 3', 5_000);
      const movedMs = Date.now() - cutAt;
      await deliveredAfter('on node 3');
      expect(logged.warnings).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^Lost the connection to RabbitMQ at node ${escape(safe(1))} \\(2 of 3\\) .*; reconnecting to any of its 3 nodes\\.$`,
          ),
        ),
      );
      expect(logged.logs).toContain(
        `Reconnected to RabbitMQ at node ${safe(2)} (3 of 3); declaring the topology and resubscribing.`,
      );

      // The list wraps round: node 3 goes, node 1 is back.
      nodes[0]!.restore();
      nodes[2]!.cut();
      await until(() => bus.isConnected && bus.connectedNode === safe(0), 'the move to node 1', 5_000);
      await deliveredAfter('on node 1');
      expect(safe(0)).toMatch(/^amqp:\/\/[^:]*:\*\*\*@127\.0\.0\.1:\d+$/);
      console.log(`[RabbitMQ nodes] moved to the next node ${movedMs} ms after its node was cut`);
      expect(movedMs).toBeLessThan(2_000);
    } finally {
      await bus.close();
      for (const node of nodes) await node.stop();
    }
  });

  it('calls a confirm that does not come unavailability, not a failure of the message', async () => {
    // A path that goes silent stands in for a queue that lost its majority: RabbitMQ holds the confirm back.
    const proxy = await TcpProxy.start(serviceEndpoint('rabbitmq').port, serviceEndpoint('rabbitmq').host);
    const via = new URL(RABBITMQ_URL);
    via.hostname = '127.0.0.1';
    via.port = String(proxy.port);
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const bus = await transport(uniqueName('rmqw'), {
      url: via.toString().replace(/\/$/, ''),
      heartbeatSeconds: 60,
      publishTimeoutMs: 500,
      topics: [topic],
    });
    try {
      await bus.publish([message(topic, 'before')]);
      proxy.freeze();
      const error = await bus.publish([message(topic, 'held back')]).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(TransportUnavailableError);
      expect((error as Error).message).toMatch(/did not confirm message .* within 500 ms \(a queue without a majority/);
      expect(bus.isConnected).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('fails a background start at once on wrong credentials', async () => {
    const wrongPassword = new RabbitMqTransport({ kind: 'rabbitmq', url: 'amqp://guest:wrong@127.0.0.1:5672' });
    const error = await wrongPassword.connectInBackground().then(
      () => null,
      (caught: unknown) => caught,
    );
    await wrongPassword.close();
    expect((error as Error).message).toMatch(/Check the user, password and vhost/);
  });

  it('reconnects after the network is cut: re-declares, resubscribes, redelivers what was in flight', async () => {
    const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
    await proxy.start();
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const logged: Logged = { logs: [], warnings: [], errors: [] };
    const bus = await transport(
      prefix,
      { url: proxy.urlFor(RABBITMQ_URL), heartbeatSeconds: 1, reconnect: { initialDelayMs: 50, maxDelayMs: 300 } },
      logged,
    );
    try {
      const got: InboundMessage[] = [];
      let hold: (() => void) | undefined;
      const sub = await bus.subscribe(spec(topic, 'survivor', { startFrom: 'earliest' }), async (inbound) => {
        got.push(inbound);
        if (inbound.body.toString() === 'in flight' && inbound.attempt === 0)
          await new Promise<void>((resolve) => (hold = resolve));
      });
      await bus.publish([message(topic, 'before')]);
      const inFlight = message(topic, 'in flight');
      await bus.publish([inFlight]);
      await until(() => hold !== undefined, 'the held message');

      proxy.cut();
      await until(() => !bus.isConnected, 'the transport to notice');
      const refused = await bus.publish([message(topic, 'during')]).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(refused).toBeInstanceOf(TransportError);
      expect((refused as Error).message).toMatch(/not reachable right now; reconnecting/);
      // The handler finishes while the connection is gone: its ack is lost with the channel.
      hold!();
      await sleep(300);
      proxy.restore();

      await until(() => bus.isConnected, 'the reconnection', 15_000);
      const after = message(topic, 'after');
      await until(
        async () =>
          bus.publish([after]).then(
            () => true,
            () => false,
          ),
        'a publish after reconnecting',
      );
      await until(
        () => got.some((inbound) => inbound.id === after.id),
        'the message published after reconnecting',
        15_000,
      );
      const redelivered = got.filter((inbound) => inbound.id === inFlight.id);
      expect(redelivered.length).toBe(2);
      expect(redelivered[1]!.attempt).toBeGreaterThan(0);
      expect(logged.logs.some((line) => /Reconnected to RabbitMQ/.test(line))).toBe(true);
      expect(logged.warnings.some((line) => /Lost the connection to RabbitMQ/.test(line))).toBe(true);
      await sub.close();
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it('reports a reconnection ready even when one restoring step never ends, and says so', async () => {
    const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
    await proxy.start();
    const lines: string[] = [];
    const logger = {
      log: (line: string) => lines.push(line),
      warn: (line: string) => lines.push(line),
      error: (line: string) => lines.push(line),
    };
    const options = resolveRabbitMqOptions({
      kind: 'rabbitmq',
      url: proxy.urlFor(RABBITMQ_URL),
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    const connection = new RabbitMqConnection(options, logger, 400);
    const reports: boolean[] = [];
    connection.onConnectionChange((connected) => reports.push(connected));
    // As an amqplib call waiting for a frame that went with the old connection: it never settles.
    connection.onUp(() => new Promise<void>(() => undefined));
    let after = 0;
    connection.onUp(async () => {
      after += 1;
    });
    try {
      await connection.connect();
      proxy.cut();
      await until(() => reports.includes(false), 'the loss to be reported', 5_000);
      const restoredAt = Date.now();
      proxy.restore();
      await until(() => reports.at(-1) === true && reports.length >= 3, 'the reconnection to be reported ready', 5_000);
      // The reconnect (at most 200 ms away) plus the 400 ms bound, not forever.
      expect(Date.now() - restoredAt).toBeLessThan(3_000);
      expect(connection.isReady).toBe(true);
      // The steps after the stuck one ran too.
      expect(after).toBe(1);
      expect(lines.some((line) => /did not finish within 0\.4 s; going on without waiting for it/.test(line))).toBe(
        true,
      );
    } finally {
      await connection.close();
      await proxy.stop();
    }
  });
});
