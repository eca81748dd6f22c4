import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnknownTopicError } from '@reliable-mq/engine';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expectLateGroupGetsEverything,
  expectOnceInKeyOrder,
  lateGroupSpec,
  publishKeyed,
  sleep,
  subscribeRecording,
  until,
} from '../../test/late-group';
import { EmbeddedTransport } from './embedded.transport';
import type { EmbeddedTransportOptions } from '../reliable-mq-options.interface';

/** What a group that subscribes after messages were published gets on the embedded transport. */
describe('embedded transport: a group that subscribes late', () => {
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(engine: EmbeddedTransportOptions['engine'] = {}): Promise<EmbeddedTransport> {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-late-group-'));
    const transport = new EmbeddedTransport({
      kind: 'embedded',
      dataDir,
      flush: 'async',
      engine: { minFreeDiskBytes: 0, ...engine },
    });
    await transport.connect();
    cleanups.push(async () => {
      await transport.close();
      rmSync(dataDir, { recursive: true, force: true });
    });
    return transport;
  }

  const topicName = (): string => `t-${randomUUID().slice(0, 8)}`;

  it('gets every message published before its first subscription, once each, in per-key order', async () => {
    const transport = await open();
    const topic = topicName();
    await transport.ensureTopic(topic);
    await expectLateGroupGetsEverything(transport, topic, 'billing');
  });

  it('joining a topic another group already consumed, gets every message still retained', async () => {
    const transport = await open();
    const topic = topicName();
    await transport.ensureTopic(topic);
    const first = await subscribeRecording(transport, lateGroupSpec(topic, 'billing'));
    const published = await publishKeyed(transport, topic, 50);
    await until(() => first.seen.length >= 50, 'the first group');
    const late = await subscribeRecording(transport, lateGroupSpec(topic, 'analytics'));
    await until(() => late.seen.length >= 50, 'the late group');
    await sleep(300);
    expectOnceInKeyOrder(late.seen, published);
    await Promise.all([first.subscription.close(1000), late.subscription.close(1000)]);
  });

  it('does not get what retention deleted before it subscribed, nor anything with startFrom "latest"', async () => {
    const transport = await open({ retentionMs: 50 });
    const topic = topicName();
    await transport.ensureTopic(topic);
    await publishKeyed(transport, topic, 5);
    await sleep(100);
    // With no group on the topic, retention alone decides how long its messages wait for one.
    expect(await transport.engine.runRetention()).toBe(5);
    const kept = await publishKeyed(transport, topic, 5);
    const late = await subscribeRecording(transport, lateGroupSpec(topic, 'billing'));
    const opted = await subscribeRecording(transport, lateGroupSpec(topic, 'live-only', { startFrom: 'latest' }));
    await until(() => late.seen.length >= 5, 'the retained messages');
    await sleep(300);
    expectOnceInKeyOrder(late.seen, kept);
    expect(opted.seen).toEqual([]);
    await Promise.all([late.subscription.close(1000), opted.subscription.close(1000)]);
  });

  it('a topic never declared keeps nothing: the publish is refused, so the outbox keeps the row', async () => {
    const transport = await open();
    await expect(publishKeyed(transport, topicName(), 1)).rejects.toBeInstanceOf(UnknownTopicError);
  });
});
