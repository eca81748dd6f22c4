import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../../../../../test/support/services';
import { TopologyMismatchError } from '../../errors/topology-mismatch.error';
import { TransportError } from '../../errors/transport.error';
import { ReliablePublisher } from '../../producing/reliable-publisher.service';
import type { InboundMessage } from '../transport.interface';
import { SLOT_COUNT, slotOf } from './rabbitmq-names';
import {
  message,
  rabbitMqTransportsClosedAfterEach,
  sleep,
  spec,
  until,
  type Logged,
} from '../../../test/rabbitmq-transports';

const transport = rabbitMqTransportsClosedAfterEach();

describe('slots', () => {
  it('hash a key to one of 64 slots, the same in every process, and spread keyless messages', () => {
    expect(slotOf('order-1')).toBe(slotOf('order-1'));
    const slots = new Set(Array.from({ length: 2000 }, (_, index) => slotOf(`k-${index}`)));
    expect(slots.size).toBe(SLOT_COUNT);
    const keyless = new Set(Array.from({ length: 2000 }, () => slotOf(undefined)));
    expect(keyless.size).toBeGreaterThan(SLOT_COUNT / 2);
  });
});

describeWithService('rabbitmq', 'RabbitMQ transport on the real server', () => {
  it('reports a queue declared with other arguments clearly, naming what to align', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const first = await transport(prefix);
    const sub = await first.subscribe(spec(topic, 'billing', { maxReconsumeTimes: 3 }), async () => undefined);
    const second = await transport(prefix);
    const error = await second
      .subscribe(spec(topic, 'billing', { maxReconsumeTimes: 5 }), async () => undefined)
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(TopologyMismatchError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `Queue "${prefix}\\.q:billing:${topic}" already exists on RabbitMQ with other arguments than group "billing" on topic "${topic}" declares .*x-delivery-limit.*must agree on maxReconsumeTimes`,
      ),
    );
    // The same declaration again is fine: declarations are idempotent.
    const third = await transport(prefix);
    const again = await third.subscribe(spec(topic, 'billing', { maxReconsumeTimes: 3 }), async () => undefined);
    await again.close();
    await sub.close();
  });

  it('declares quorum queues with quorumReplicas, and keeps the replica count of queues that exist with another', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const queue = `${prefix}.q:billing:${topic}`;
    // Created as before the option existed: no replica count of its own.
    const before = await transport(prefix);
    const sub = await before.subscribe(spec(topic, 'billing'), async () => undefined);
    const logged: Logged = { logs: [], warnings: [], errors: [] };
    const replicated = await transport(prefix, { quorumReplicas: 3 }, logged);
    const again = await replicated.subscribe(spec(topic, 'billing'), async () => undefined);
    expect(logged.logs).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `Queue "${queue.replace(/\./g, '\\.')}" exists with RabbitMQ's default replica count .*not 3: it keeps its replicas`,
        ),
      ),
    );
    // Each queue is adopted once per process: a second subscription declares it without another refusal.
    const adoptedLines = logged.logs.filter((line) => line.includes(`"${queue}"`)).length;
    const third = await replicated.subscribe(spec(topic, 'billing', { consumerId: 'b' }), async () => undefined);
    expect(logged.logs.filter((line) => line.includes(`"${queue}"`)).length).toBe(adoptedLines);
    // Another argument that differs still stops the subscription, naming it.
    const other = await transport(prefix, { quorumReplicas: 3 });
    const mismatch = await other
      .subscribe(spec(topic, 'billing', { maxReconsumeTimes: 9 }), async () => undefined)
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(mismatch).toBeInstanceOf(TopologyMismatchError);
    expect((mismatch as Error).message).toMatch(/x-delivery-limit/);

    // Created with a count (3 asks for more replicas than this node's cluster has: RabbitMQ places what it can).
    const created = uniqueName('rmqt');
    const withCount = await transport(created, { quorumReplicas: 3 });
    const first = await withCount.subscribe(spec(topic, 'billing'), async () => undefined);
    // RabbitMQ names the count the queue was created with when another one is asked for.
    const loggedFive: Logged = { logs: [], warnings: [], errors: [] };
    const five = await transport(created, { quorumReplicas: 5 }, loggedFive);
    const fifth = await five.subscribe(spec(topic, 'billing'), async () => undefined);
    expect(loggedFive.logs).toContainEqual(
      expect.stringMatching(/exists with 3 replicas \(x-quorum-initial-group-size\), not 5/),
    );
    // An application without the option (one URL) keeps working on it.
    const plain = await transport(created);
    const second = await plain.subscribe(spec(topic, 'billing'), async () => undefined);
    await Promise.all([sub.close(), again.close(), third.close(), first.close(), fifth.close(), second.close()]);
  });

  it('without a history, parks what no group takes, and hands it to the first group that starts from the earliest', async () => {
    const prefix = uniqueName('rmqt');
    const bus = await transport(prefix, { historyRetention: 0 });
    const topic = `t-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(topic);
    const early = [message(topic, 'e1', { key: 'a' }), message(topic, 'e2', { key: 'b' })];
    await bus.publish(early);
    const latest: string[] = [];
    const earliest: string[] = [];
    const subLatest = await bus.subscribe(spec(topic, 'late-joiner', { startFrom: 'latest' }), async (inbound) => {
      latest.push(inbound.id);
    });
    const subEarliest = await bus.subscribe(spec(topic, 'replayer', { startFrom: 'earliest' }), async (inbound) => {
      earliest.push(inbound.id);
    });
    await until(() => earliest.length === 2, 'the parked messages');
    expect(earliest.sort()).toEqual(early.map((sent) => sent.id).sort());
    // Replayed through the topic, so every group bound by then gets them.
    await until(() => latest.length === 2, 'the replay reaching the other group too');
    const after = message(topic, 'later');
    await bus.publish([after]);
    await until(() => earliest.length === 3 && latest.length === 3, 'the next message');
    await Promise.all([subLatest.close(), subEarliest.close()]);
  });

  it('with unroutable "reject", a message no queue takes fails the publish, and succeeds once a group exists', async () => {
    const prefix = uniqueName('rmqt');
    const bus = await transport(prefix, { unroutable: 'reject', historyRetention: 0 });
    const topic = `t-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(topic);
    const error = await bus.publish([message(topic, 'nobody')]).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(/returned message .* as unroutable \(312 NO_ROUTE\)/);
    const got: string[] = [];
    const sub = await bus.subscribe(spec(topic, 'g'), async (inbound) => {
      got.push(inbound.id);
    });
    const sent = message(topic, 'somebody');
    await bus.publish([sent]);
    await until(() => got.length === 1, 'the delivery');
    expect(got).toEqual([sent.id]);
    await sub.close();
  });

  it('orderly: each key lives in one hashed queue with a single active consumer; a second instance stands by', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const a = await transport(prefix, { topics: [{ name: topic, queueCount: 3 }] });
    const b = await transport(prefix, { topics: [{ name: topic, queueCount: 3 }] });
    const seen = new Map<string, number[]>();
    const byInstance = { a: 0, b: 0 };
    const handler = (instance: 'a' | 'b') => async (inbound: InboundMessage) => {
      byInstance[instance]++;
      const list = seen.get(inbound.key!) ?? [];
      list.push(Number(inbound.body.toString()));
      seen.set(inbound.key!, list);
      await sleep(2);
    };
    const subA = await a.subscribe(spec(topic, 'ledger', { mode: 'orderly' }), handler('a'));
    const subB = await b.subscribe(spec(topic, 'ledger', { mode: 'orderly' }), handler('b'));
    const keys = Array.from({ length: 12 }, (_, index) => `acct-${index}`);
    for (let n = 0; n < 20; n++) await a.publish(keys.map((key) => message(topic, String(n), { key })));
    await until(
      () => [...seen.values()].reduce((sum, list) => sum + list.length, 0) === 240,
      'all 240 messages',
      20_000,
    );
    for (const key of keys) expect(seen.get(key)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    // Single active consumer: the first instance registered on every queue took them all.
    expect(byInstance).toEqual({ a: 240, b: 0 });
    // When it leaves, the standby takes over, in order.
    await subA.close();
    seen.clear();
    for (let n = 0; n < 5; n++) await b.publish(keys.map((key) => message(topic, String(n), { key })));
    await until(
      () => [...seen.values()].reduce((sum, list) => sum + list.length, 0) === 60,
      'the standby taking over',
      20_000,
    );
    for (const key of keys) expect(seen.get(key)).toEqual([0, 1, 2, 3, 4]);
    expect(byInstance.b).toBe(60);
    await subB.close();
  });

  it('broadcasting: every member gets every message in a queue of its own, removed when the member leaves', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const bus = await transport(prefix);
    const got = { m1: [] as string[], m2: [] as string[] };
    const broadcast = (consumerId: 'm1' | 'm2') =>
      bus.subscribe(spec(topic, 'cache-invalidation', { consumerId, groupMode: 'broadcasting' }), async (inbound) => {
        got[consumerId].push(inbound.id);
      });
    const sub1 = await broadcast('m1');
    const sub2 = await broadcast('m2');
    const sent = [message(topic, 'x'), message(topic, 'y')];
    await bus.publish(sent);
    await until(() => got.m1.length === 2 && got.m2.length === 2, 'both members');
    const memberQueue = bus.names.memberQueue('cache-invalidation', topic, 'm1');
    await sub1.close();
    const admin = await connect(RABBITMQ_URL);
    const channel = await admin.createChannel();
    channel.on('error', () => undefined);
    const gone = await channel.checkQueue(memberQueue).then(
      () => false,
      () => true,
    );
    await admin.close().catch(() => undefined);
    expect(gone).toBe(true);
    await sub2.close();
  });

  it('waits for the delay level before a retry, and for deliverAt before the first delivery', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const bus = await transport(prefix);
    const times: number[] = [];
    const sub = await bus.subscribe(spec(topic, 'slow', { delayLevels: '400ms' }), async (inbound) => {
      times.push(Date.now());
      if (inbound.attempt === 0 && inbound.body.toString() === 'retry me') throw new Error('later');
    });
    await bus.publish([message(topic, 'retry me')]);
    await until(() => times.length === 2, 'the retry');
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(380);

    const deliverAt = Date.now() + 1300;
    await bus.publish([message(topic, 'later', { deliverAt })]);
    await until(() => times.length === 3, 'the delayed message', 10_000);
    expect(times[2]!).toBeGreaterThanOrEqual(deliverAt);
    // A few hops through the ladder of delay queues; generous for a loaded machine, but never early (above).
    expect(times[2]! - deliverAt).toBeLessThan(2500);
    await sub.close();
  });

  it('DLQ: lists with filters, resends with an edit to the group only, keeps resent and discarded letters for audit', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const bus = await transport(prefix);
    let broken = true;
    const handled: Array<{ body: string; headers: Record<string, string>; attempt: number }> = [];
    const sub = await bus.subscribe(spec(topic, 'payments', { maxReconsumeTimes: 0 }), async (inbound) => {
      if (broken) throw Object.assign(new Error(`declined ${inbound.key}`), { nonRetryable: inbound.key === 'k-2' });
      handled.push({ body: inbound.body.toString(), headers: inbound.headers, attempt: inbound.attempt });
    });
    const sent = [1, 2, 3].map((n) => message(topic, `body-${n}`, { key: `k-${n}`, headers: { trace: `t-${n}` } }));
    await bus.publish(sent);
    await until(async () => (await bus.deadLetters.list({ group: 'payments' })).total === 3, 'three dead letters');
    const page = await bus.deadLetters.list({ group: 'payments', limit: 2 });
    expect(page.total).toBe(3);
    expect(page.items).toHaveLength(2);
    expect((await bus.deadLetters.list({ group: 'payments', key: 'k-2' })).items).toEqual([
      expect.objectContaining({
        group: 'payments',
        topic,
        key: 'k-2',
        originalMessageId: sent[1]!.id,
        reason: 'Error: declined k-2',
        status: 'dead',
        headers: expect.objectContaining({ trace: 't-2' }),
        dlqTopic: '%DLQ%payments',
      }),
    ]);
    expect((await bus.deadLetters.list({ group: 'payments', reasonContains: 'k-3' })).total).toBe(1);
    expect((await bus.deadLetters.list({ group: 'payments', messageId: sent[0]!.id })).total).toBe(1);
    expect((await bus.deadLetters.list({ group: 'payments', topic: 'elsewhere' })).total).toBe(0);

    const [first, second] = [sent[0]!, sent[1]!].map(
      (one) => page.items.find((letter) => letter.originalMessageId === one.id) ?? null,
    );
    const letters = await bus.deadLetters.list({ group: 'payments' });
    const letterOf = (id: string) => letters.items.find((letter) => letter.originalMessageId === id)!;
    void first;
    void second;
    broken = false;
    expect(
      await bus.deadLetters.resend([letterOf(sent[0]!.id).id], { body: 'fixed', headers: { trace: 'edited' } }),
    ).toEqual([letterOf(sent[0]!.id).id]);
    await until(() => handled.length === 1, 'the resent letter');
    expect(handled[0]).toMatchObject({
      body: 'fixed',
      attempt: 0,
      headers: expect.objectContaining({ trace: 'edited' }),
    });

    await expect(bus.deadLetters.discard([letterOf(sent[1]!.id).id], ' ')).rejects.toThrow(/non-empty reason/);
    await bus.deadLetters.discard([letterOf(sent[1]!.id).id], 'customer cancelled');
    await expect(bus.deadLetters.resend([letterOf(sent[1]!.id).id])).rejects.toThrow(
      /does not exist or is no longer dead/,
    );
    await expect(bus.deadLetters.resend([424242])).rejects.toThrow(/Dead letter 424242 does not exist/);

    const remaining = await bus.deadLetters.list({ group: 'payments' });
    expect(remaining.items.map((letter) => letter.originalMessageId)).toEqual([sent[2]!.id]);
    const audit = await bus.deadLetters.list({ group: 'payments', status: 'any' });
    expect(audit.total).toBe(3);
    expect(await bus.deadLetters.get(letterOf(sent[0]!.id).id)).toMatchObject({
      status: 'resent',
      statusAt: expect.any(Number),
    });
    expect(await bus.deadLetters.get(letterOf(sent[1]!.id).id)).toMatchObject({
      status: 'discarded',
      statusReason: 'customer cancelled',
    });
    expect(await bus.deadLetters.get(1)).toBeUndefined();
    await sub.close();
  });

  it('the broker dead-letters a message whose consumers keep dying before the ack, at x-delivery-limit = maxReconsumeTimes', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const publisher = await transport(prefix);
    await publisher.ensureTopic(topic);
    const deliveries: number[] = [];
    // Each consumer takes the message and dies (its connection closes) before acking; limit 1 allows 2 deliveries.
    for (let round = 0; round < 2; round++) {
      const consumer = await transport(prefix);
      const sub = await consumer.subscribe(spec(topic, 'crashy', { maxReconsumeTimes: 1 }), async (inbound) => {
        deliveries.push(inbound.attempt);
        await new Promise(() => undefined);
      });
      if (round === 0) await publisher.publish([message(topic, 'poison')]);
      await until(() => deliveries.length === round + 1, `delivery ${round + 1}`);
      void sub;
      await consumer.close();
    }
    expect(deliveries).toEqual([0, 1]);
    await until(
      async () => (await publisher.deadLetters.list({ group: 'crashy' })).total === 1,
      'the broker dead letter',
    );
    const [letter] = (await publisher.deadLetters.list({ group: 'crashy' })).items;
    expect(letter!.reason).toMatch(/RabbitMQ dead-lettered it \(delivery_limit\)/);
    // It can be resent like any other letter.
    const again: number[] = [];
    const sub = await publisher.subscribe(spec(topic, 'crashy', { maxReconsumeTimes: 1 }), async (inbound) => {
      again.push(inbound.attempt);
    });
    await publisher.deadLetters.resend([letter!.id]);
    await until(() => again.length === 1, 'the resent letter');
    await sub.close();
  });

  it('counts the messages waiting in its work and retry queues', async () => {
    const prefix = uniqueName('rmqt');
    const topic = `t-${randomUUID().slice(0, 8)}`;
    const bus = await transport(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sub = await bus.subscribe(spec(topic, 'backlog', { prefetch: 1 }), async () => gate);
    await bus.publish(Array.from({ length: 5 }, (_, n) => message(topic, String(n))));
    await until(async () => (await bus.queuedMessages()) === 4, 'four ready behind the one in flight');
    release();
    await until(async () => (await bus.queuedMessages()) === 0, 'the backlog drained');
    await sub.close();
  });

  it('refuses transactional messages without a dataSource, pointing to the outbox', async () => {
    const bus = await transport(uniqueName('rmqt'));
    expect(bus.transactions).toBeUndefined();
    const publisher = new ReliablePublisher({ transport: bus, producerGroup: 'orders' });
    await expect(publisher.sendInTransaction({ topic: 'x', payload: {} }, async () => 'commit')).rejects.toThrow(
      /The "rabbitmq" transport has no transactional messages; use publish\(\) with the outbox/,
    );
  });
});
