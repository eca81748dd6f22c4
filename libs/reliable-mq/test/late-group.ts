import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type {
  InboundMessage,
  SubscriptionSpec,
  Transport,
  TransportMessage,
  TransportSubscription,
} from '../src/transport/transport.interface';

/*
 * Support for the specs of a group that subscribes to a topic for the first time after messages were published to
 * it, run the same way on every transport. Not part of the public API.
 */

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `count` messages spread over five keys, each body `<key>:<sequence of that key>`, published 50 at a time. */
export async function publishKeyed(transport: Transport, topic: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch: TransportMessage[] = Array.from({ length: Math.min(50, count - start) }, (_, offset) => {
      const n = start + offset;
      const key = KEYS[n % KEYS.length]!;
      return {
        id: randomUUID(),
        topic,
        key,
        headers: {},
        body: Buffer.from(`${key}:${Math.floor(n / KEYS.length)}`),
      };
    });
    await transport.publish(batch);
    ids.push(...batch.map((message) => message.id));
  }
  return ids;
}

/** A subscription spec that leaves the start position to the transport, as `@MqConsumer` does by default. */
export function lateGroupSpec(topic: string, group: string, extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return { group, topic, mode: 'orderly', prefetch: 16, maxReconsumeTimes: 3, ...extra };
}

export interface Recorded {
  seen: InboundMessage[];
  subscription: TransportSubscription;
}

export async function subscribeRecording(
  transport: Transport,
  spec: SubscriptionSpec,
  seen: InboundMessage[] = [],
): Promise<Recorded> {
  const subscription = await transport.subscribe(spec, async (message) => {
    seen.push(message);
  });
  return { seen, subscription };
}

/** Every published id exactly once, and within each key the sequence numbers in publish order. */
export function expectOnceInKeyOrder(seen: readonly InboundMessage[], published: readonly string[]): void {
  expect(seen.map((message) => message.id).sort()).toEqual([...published].sort());
  const byKey = new Map<string, number[]>();
  for (const message of seen) {
    const [key, sequence] = message.body.toString('utf8').split(':');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(sequence)]);
  }
  for (const [key, sequences] of byKey) {
    expect(sequences, `order of key ${key}`).toEqual([...sequences].sort((a, b) => a - b));
  }
}

/**
 * The case every transport passes: `count` messages published on a declared topic before group `group` ever
 * subscribed, then the group subscribes with no start position (orderly, so per-key order is checked too). Waits
 * a while after the last one arrives, so that a second delivery would show.
 */
export async function expectLateGroupGetsEverything(
  transport: Transport,
  topic: string,
  group: string,
  count = 200,
): Promise<void> {
  const published = await publishKeyed(transport, topic, count);
  const { seen, subscription } = await subscribeRecording(transport, lateGroupSpec(topic, group));
  try {
    await until(() => seen.length >= count, `the ${count} messages published before group "${group}" subscribed`);
    await sleep(500);
    expectOnceInKeyOrder(seen, published);
  } finally {
    await subscription.close(2000);
  }
}
