import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../errors/configuration.error';
import { resolveReliableMqOptions } from '../../reliable-mq-options.resolver';
import { redactUrl, resolveRabbitMqOptions } from './rabbitmq-options.resolver';
import type { RabbitMqTransportOptions } from './rabbitmq-transport-options';

const URL = 'amqp://guest:guest@127.0.0.1:5672';

describe('RabbitMQ transport options', () => {
  it('fills in defaults and takes RABBITMQ_URL when there is no url', () => {
    const resolved = resolveRabbitMqOptions(
      { kind: 'rabbitmq', topics: ['a', { name: 'b', queueCount: 8 }] },
      { RABBITMQ_URL: URL },
    );
    expect(resolved).toMatchObject({
      url: URL,
      safeUrl: 'amqp://guest:***@127.0.0.1:5672',
      prefix: 'rmq',
      unroutable: 'park',
      orderlyQueueCount: 4,
      heartbeatSeconds: 5,
      waitForConnection: false,
      orderlyRetryPauseMs: 1000,
      transactionTimeoutMs: 6000,
      checkIntervalMs: 30_000,
      transactionCheckMax: 15,
      halfMessageRetentionMs: 7 * 24 * 3_600_000,
    });
    expect([...resolved.topics]).toEqual([
      ['a', 4],
      ['b', 8],
    ]);
  });

  it('refuses what cannot work with one sentence that says what to change', () => {
    const cases: Array<[Partial<RabbitMqTransportOptions>, RegExp]> = [
      [{}, /set `url` .* or the RABBITMQ_URL environment variable/],
      [{ url: 'http://127.0.0.1:5672' }, /url must start with amqp:\/\/ or amqps:\/\//],
      [{ url: URL, prefix: 'amq.mine' }, /prefix must .* not start with "amq\."/],
      [{ url: URL, prefix: 'has space' }, /prefix must be 1–32 letters/],
      [{ url: URL, unroutable: 'drop' as never }, /unroutable must be "park" or "reject"; got "drop"/],
      [{ url: URL, orderlyQueueCount: 65 }, /orderlyQueueCount must be an integer from 1 to 64; got 65/],
      [{ url: URL, topics: [{ name: 'x', queueCount: 0 }] }, /queueCount of topic "x" must be an integer from 1 to 64/],
      [{ url: URL, topics: ['bad topic'] }, /topics: .*bad topic/],
      [{ url: URL, delayLevels: '1s soon' }, /delayLevels: /],
      [{ url: URL, connectTimeoutMs: 'later' }, /connectTimeoutMs must be milliseconds or a duration/],
      [{ url: URL, waitForConnection: 'yes' as never }, /waitForConnection must be true .* or false .*; got "yes"/],
      [
        { url: URL, reconnect: { initialDelayMs: 5000, maxDelayMs: 100 } },
        /reconnect.maxDelayMs must not be below reconnect.initialDelayMs/,
      ],
      [{ url: URL, deadLetters: { groups: ['ok', 'not ok'] } }, /deadLetters.groups: /],
      [
        { url: URL, transactions: { halfMessageRetentionMs: 'soon' } },
        /transactions.halfMessageRetentionMs must be milliseconds or a duration/,
      ],
      [{ url: URL, transactions: { halfMessageRetentionMs: 10 } }, /halfMessageRetentionMs must be at least 1000 ms/],
    ];
    for (const [options, problem] of cases) {
      let caught: unknown;
      try {
        resolveRabbitMqOptions({ kind: 'rabbitmq', ...options }, {});
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(ConfigurationError);
      expect((caught as Error).message).toMatch(/^ReliableMqModule: transport \(rabbitmq\): /);
      expect((caught as Error).message).toMatch(problem);
    }
  });

  it('never prints the password of a URL', () => {
    expect(redactUrl('amqp://user:s3cr3t@rabbit:5672/vhost')).toBe('amqp://user:***@rabbit:5672/vhost');
    expect(redactUrl('amqps://rabbit')).toBe('amqps://rabbit');
    let caught: unknown;
    try {
      resolveRabbitMqOptions({ kind: 'rabbitmq', url: 'http://user:s3cr3t@rabbit' }, {});
    } catch (error) {
      caught = error;
    }
    expect(String(caught)).not.toContain('s3cr3t');
  });

  it('is what the module checks for transport.kind "rabbitmq"', () => {
    expect(() =>
      resolveReliableMqOptions({ producerGroup: 'svc', transport: { kind: 'rabbitmq', url: URL, prefix: '' } }),
    ).toThrow(/transport \(rabbitmq\): prefix must be/);
    const resolved = resolveReliableMqOptions({ producerGroup: 'svc', transport: { kind: 'rabbitmq', url: URL } });
    expect(resolved.transport).toEqual({ kind: 'rabbitmq', url: URL });
    expect(() => resolveReliableMqOptions({ producerGroup: 'svc', transport: { kind: 'kafka' } as never })).toThrow(
      /"kafka" is not available; use "embedded", "remote" or "rabbitmq"/,
    );
  });
});
