import { randomUUID } from 'node:crypto';
import type { InboundMessage, SubscriptionSpec, Transport, TransportMessage } from '../transport/transport.interface';
import { ContractViolation, expectThat } from './contract-assertions';
import { registerContractSuite, type ContractSuiteOptions } from './contract-suite-runner';

/** What a transport under test is, plus how to make fresh names on it. */
export interface TransportFixture {
  transport: Transport;
  /** Declares a fresh, unique topic and returns its name. */
  newTopic(): Promise<string>;
  /** Optional abilities; cases needing an absent one are reported as not applicable. */
  capabilities?: { idempotentPublish?: boolean };
  cleanup?: () => Promise<void>;
}

export type TransportFactory = () => Promise<TransportFixture>;

export interface TransportContractCase {
  name: string;
  run(fixture: TransportFixture): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `read` every `intervalMs` until `done` holds of its result or `timeoutMs` has passed, and resolves the last
 * result; the caller decides what a result that never got there means.
 */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 8000,
  intervalMs = 20,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() - started >= timeoutMs) return value;
    await sleep(intervalMs);
  }
}

async function eventually(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const reached = await pollUntil(
    async () => predicate(),
    (ok) => ok,
    timeoutMs,
    10,
  );
  if (!reached) throw new ContractViolation(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function message(topic: string, body: string, extra: Partial<TransportMessage> = {}): TransportMessage {
  return { id: randomUUID(), topic, headers: {}, body: Buffer.from(body), ...extra };
}

function spec(topic: string, group: string, extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return {
    group,
    topic,
    mode: 'concurrent',
    prefetch: 16,
    maxReconsumeTimes: 2,
    delayLevels: '20ms 20ms 20ms',
    startFrom: 'earliest',
    ...extra,
  };
}

const group = (): string => `contract-${randomUUID().slice(0, 8)}`;

/**
 * The cases every transport must pass. Exported as data so that a spec can also prove
 * that deliberately broken transports fail them.
 */
export const transportContractCases: TransportContractCase[] = [
  {
    name: 'publish confirms every message of a batch with its id',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const batch = [message(topic, 'a'), message(topic, 'b'), message(topic, 'c')];
      const confirms = await transport.publish(batch);
      expectThat(confirms.length === 3, `expected 3 confirms, got ${confirms.length}`);
      expectThat(
        confirms.every((confirm, index) => confirm.id === batch[index]!.id),
        'confirms must carry the ids of the published messages, in order',
      );
    },
  },
  {
    name: 'a subscriber receives body, key, tags and headers as published',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const got: InboundMessage[] = [];
      const sub = await transport.subscribe(spec(topic, group()), async (inbound) => {
        got.push(inbound);
      });
      try {
        const sent = message(topic, '{"n":1}', { key: 'order-1', tags: ['created'], headers: { trace: 't-1' } });
        await transport.publish([sent]);
        await eventually(() => got.length >= 1, 'the delivery');
        const inbound = got[0]!;
        expectThat(inbound.id === sent.id, `id ${inbound.id} != ${sent.id}`);
        expectThat(inbound.body.toString() === '{"n":1}', 'body differs');
        expectThat(inbound.key === 'order-1', `key ${inbound.key}`);
        expectThat(inbound.tags.includes('created'), 'tag missing');
        expectThat(inbound.headers.trace === 't-1', 'header missing');
        expectThat(inbound.attempt === 0, `first delivery must be attempt 0, got ${inbound.attempt}`);
        await sleep(100);
        expectThat(got.length === 1, `an acked message must not come again; got ${got.length} deliveries`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'the message is acked only after the handler resolves; a rejection is retried with a higher attempt',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const attempts: number[] = [];
      const sub = await transport.subscribe(spec(topic, group()), async (inbound) => {
        attempts.push(inbound.attempt);
        if (attempts.length === 1) throw new Error('first try fails');
      });
      try {
        await transport.publish([message(topic, 'x')]);
        await eventually(() => attempts.length >= 2, 'the retry');
        await sleep(150);
        expectThat(attempts.length === 2, `expected exactly 2 deliveries, got ${attempts.length}`);
        expectThat(attempts[1]! > attempts[0]!, `retry must report a higher attempt: ${attempts.join(',')}`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'after maxReconsumeTimes failures the message is in the DLQ with the reason',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const name = group();
      let calls = 0;
      const sub = await transport.subscribe(spec(topic, name, { maxReconsumeTimes: 1 }), async () => {
        calls++;
        throw new Error('always broken');
      });
      try {
        const sent = message(topic, 'poison', { key: 'k-dlq' });
        await transport.publish([sent]);
        const found = await pollUntil(
          async () =>
            (await transport.deadLetters.list({ group: name, topic })).items.some(
              (letter) => letter.originalMessageId === sent.id && letter.reason.includes('always broken'),
            ),
          (listed) => listed,
          10_000,
        );
        expectThat(found, 'the failed message must be listed in the group DLQ with its error');
        expectThat(calls === 2, `maxReconsumeTimes 1 means 2 calls, got ${calls}`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'a non-retryable error goes straight to the DLQ',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const name = group();
      let calls = 0;
      const sub = await transport.subscribe(spec(topic, name, { maxReconsumeTimes: 5 }), async () => {
        calls++;
        throw Object.assign(new Error('card declined'), { nonRetryable: true });
      });
      try {
        await transport.publish([message(topic, 'x')]);
        const { total } = await pollUntil(
          () => transport.deadLetters.list({ group: name }),
          (page) => page.total !== 0,
        );
        expectThat(total === 1, 'expected one dead letter');
        await sleep(100);
        expectThat(calls === 1, `non-retryable must not be retried; handler ran ${calls} times`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'each group gets every message, and only the failing group sees the retry',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const good: string[] = [];
      const flaky: string[] = [];
      const subA = await transport.subscribe(spec(topic, group()), async (inbound) => {
        good.push(inbound.id);
      });
      const subB = await transport.subscribe(spec(topic, group()), async (inbound) => {
        flaky.push(inbound.id);
        if (flaky.length === 1) throw new Error('once');
      });
      try {
        await transport.publish([message(topic, 'x')]);
        await eventually(() => good.length >= 1 && flaky.length >= 2, 'both groups');
        await sleep(150);
        expectThat(good.length === 1, `the healthy group must see the message once, saw ${good.length}`);
        expectThat(flaky.length === 2, `the failing group must see it twice, saw ${flaky.length}`);
      } finally {
        await Promise.all([subA.close(2000), subB.close(2000)]);
      }
    },
  },
  {
    name: 'an orderly subscription gets messages of one key in publish order, even across a failure',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const seen: number[] = [];
      let failedOnce = false;
      const sub = await transport.subscribe(
        spec(topic, group(), { mode: 'orderly', maxReconsumeTimes: 5 }),
        async (inbound) => {
          const n = Number(inbound.body.toString());
          if (n === 3 && !failedOnce) {
            failedOnce = true;
            throw new Error('hold the queue');
          }
          seen.push(n);
        },
      );
      try {
        for (let n = 0; n < 10; n++) await transport.publish([message(topic, String(n), { key: 'same-key' })]);
        await eventually(() => seen.length >= 10, 'all ten', 15_000);
        expectThat(seen.join(',') === '0,1,2,3,4,5,6,7,8,9', `order broken: ${seen.join(',')}`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'a dead letter resent is handled again by its group only; discard needs a reason',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const name = group();
      let fail = true;
      const handled: string[] = [];
      const other: string[] = [];
      const sub = await transport.subscribe(spec(topic, name, { maxReconsumeTimes: 0 }), async (inbound) => {
        if (fail) throw new Error('down');
        handled.push(inbound.id);
      });
      const subOther = await transport.subscribe(spec(topic, group()), async (inbound) => {
        other.push(inbound.id);
      });
      try {
        const sent = message(topic, 'r');
        await transport.publish([sent, message(topic, 'd')]);
        const page = await pollUntil(
          () => transport.deadLetters.list({ group: name }),
          (listed) => listed.total >= 2,
        );
        expectThat(page.total === 2, `expected 2 dead letters, got ${page.total}`);
        fail = false;
        const target = page.items.find((letter) => letter.originalMessageId === sent.id)!;
        const rest = page.items.find((letter) => letter.originalMessageId !== sent.id)!;
        await transport.deadLetters.resend([target.id]);
        await eventually(() => handled.includes(sent.id), 'the resent message');
        let refused = false;
        await transport.deadLetters.discard([rest.id], '').catch(() => {
          refused = true;
        });
        expectThat(refused, 'discard without a reason must be refused');
        await transport.deadLetters.discard([rest.id], 'duplicate order');
        const after = await transport.deadLetters.list({ group: name });
        expectThat(after.total === 0, `no dead letters should remain, got ${after.total}`);
        await sleep(100);
        expectThat(other.length === 2, `the other group must not see the resend; saw ${other.length}`);
      } finally {
        await Promise.all([sub.close(2000), subOther.close(2000)]);
      }
    },
  },
  {
    name: 'republishing an id the broker holds does not deliver it twice (idempotent publish)',
    async run({ transport, newTopic, capabilities }) {
      if (!capabilities?.idempotentPublish) return;
      const topic = await newTopic();
      const got: string[] = [];
      const sub = await transport.subscribe(spec(topic, group()), async (inbound) => {
        got.push(inbound.id);
      });
      try {
        const sent = message(topic, 'once');
        await transport.publish([sent]);
        const again = await transport.publish([sent]);
        expectThat(again[0]!.duplicate, 'the second confirm must say duplicate');
        await eventually(() => got.length >= 1, 'the delivery');
        await sleep(150);
        expectThat(got.length === 1, `delivered ${got.length} times`);
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'publishing to an unknown topic is refused with an error, and nothing of the batch is delivered',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      const got: string[] = [];
      const sub = await transport.subscribe(spec(topic, group()), async (inbound) => {
        got.push(inbound.id);
      });
      try {
        let refused = false;
        await transport
          .publish([message(topic, 'ok'), message(`missing-${randomUUID().slice(0, 8)}`, 'nope')])
          .catch(() => {
            refused = true;
          });
        expectThat(refused, 'a batch naming an unknown topic must be refused');
        await sleep(150);
        expectThat(got.length === 0, 'a refused batch must deliver nothing');
      } finally {
        await sub.close(2000);
      }
    },
  },
  {
    name: 'after close, publish rejects and nothing more is delivered',
    async run({ transport, newTopic }) {
      const topic = await newTopic();
      await transport.close();
      let refused = false;
      await transport.publish([message(topic, 'late')]).catch(() => {
        refused = true;
      });
      expectThat(refused, 'publish after close must reject');
    },
  },
];

/**
 * Registers the contract for one transport: a `describe` with one test per case, each on a fresh fixture from
 * `factory`. Runs under Jest and Vitest alike; see `ContractSuiteOptions` for runners without globals.
 *
 *     transportContract('my transport', async () => ({ transport, newTopic }), { describe, it });
 */
export function transportContract(name: string, factory: TransportFactory, options: ContractSuiteOptions = {}): void {
  registerContractSuite(
    'transportContract',
    `Transport contract: ${name}`,
    transportContractCases,
    async (contractCase) => {
      const fixture = await factory();
      try {
        await contractCase.run(fixture);
      } finally {
        await fixture.cleanup?.();
      }
    },
    options,
  );
}
