import { randomUUID } from 'node:crypto';
import { afterEach } from 'vitest';
import { deleteRabbitMqObjects } from '../../../test/support/rabbitmq-admin';
import { RABBITMQ_URL } from '../../../test/support/services';
import { RabbitMqTransport } from '../src/transport/rabbitmq/rabbitmq.transport';
import type { RabbitMqTransportOptions } from '../src/transport/rabbitmq/rabbitmq-transport-options';
import type { SubscriptionSpec, TransportMessage } from '../src/transport/transport.interface';

/*
 * Support for the RabbitMQ transport specs: connected transports that are closed, and whose queues and exchanges are
 * deleted, after each test. Not part of the public API.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface Logged {
  logs: string[];
  warnings: string[];
  errors: string[];
}

export type RabbitMqTransportFactory = (
  prefix: string,
  options?: Partial<RabbitMqTransportOptions>,
  logged?: Logged,
) => Promise<RabbitMqTransport>;

/**
 * Registers the cleanup after each test of the calling spec, and returns the factory of its transports: each one
 * connected; `prefix` shares names between transports of one test.
 */
export function rabbitMqTransportsClosedAfterEach(): RabbitMqTransportFactory {
  const open: RabbitMqTransport[] = [];
  const leftovers: Array<{ queues: string[]; exchanges: string[] }> = [];

  afterEach(async () => {
    for (const transport of open.splice(0)) {
      await transport.close();
      leftovers.push(transport.declaredTopology());
    }
    const all = leftovers.splice(0);
    await deleteRabbitMqObjects({
      queues: all.flatMap((set) => set.queues),
      exchanges: all.flatMap((set) => set.exchanges),
    });
  });

  return async (prefix, options = {}, logged = { logs: [], warnings: [], errors: [] }) => {
    const created = new RabbitMqTransport(
      { kind: 'rabbitmq', url: RABBITMQ_URL, prefix, connectTimeoutMs: 2000, ...options },
      {
        logger: {
          log: (message) => logged.logs.push(message),
          warn: (message) => logged.warnings.push(message),
          error: (message) => logged.errors.push(message),
        },
      },
    );
    await created.connect();
    open.push(created);
    return created;
  };
}

export function spec(topic: string, group: string, extra: Partial<SubscriptionSpec> = {}): SubscriptionSpec {
  return {
    group,
    topic,
    mode: 'concurrent',
    prefetch: 8,
    maxReconsumeTimes: 3,
    delayLevels: '50ms',
    startFrom: 'latest',
    ...extra,
  };
}

export function message(topic: string, body: string, extra: Partial<TransportMessage> = {}): TransportMessage {
  return { id: randomUUID(), topic, headers: {}, body: Buffer.from(body), ...extra };
}
