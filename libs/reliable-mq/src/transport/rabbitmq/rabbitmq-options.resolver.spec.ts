import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../errors/configuration.error';
import { resolveReliableMqOptions } from '../../reliable-mq-options.resolver';
import { redactUrl, resolveRabbitMqOptions, splitRabbitMqUrls } from './rabbitmq-options.resolver';
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

  it('takes the nodes of a cluster as an array or a comma-separated list, and replicates quorum queues on 3 of them', () => {
    const nodes = [
      'amqp://guest:a@rabbit-1:5672',
      'amqp://guest:b@rabbit-2:5672',
      'amqps://guest:c@rabbit-3:5671/shop',
    ];
    const fromArray = resolveRabbitMqOptions({ kind: 'rabbitmq', url: nodes }, {});
    expect(fromArray).toMatchObject({
      url: nodes[0],
      urls: nodes,
      safeUrl: 'amqp://guest:***@rabbit-1:5672, amqp://guest:***@rabbit-2:5672, amqps://guest:***@rabbit-3:5671/shop',
      quorumReplicas: 3,
    });
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq' }, { RABBITMQ_URL: ` ${nodes.join(' , ')} ,` }).urls).toEqual(
      nodes,
    );
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq', url: nodes.join(',') }).urls).toEqual(nodes);
    // One or two URLs may be a single node or a balancer: RabbitMQ's own default, as before.
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq', url: URL }, {}).quorumReplicas).toBeUndefined();
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq', url: nodes.slice(0, 2) }, {}).quorumReplicas).toBeUndefined();
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq', url: URL, quorumReplicas: 5 }, {}).quorumReplicas).toBe(5);
    expect(resolveRabbitMqOptions({ kind: 'rabbitmq', url: nodes, quorumReplicas: 1 }, {}).quorumReplicas).toBe(1);
  });

  it('splits lists only where a URL starts, so that a password may hold a comma', () => {
    expect(splitRabbitMqUrls('amqp://u:pa,ss@rabbit-1,amqp://u:pa,ss@rabbit-2')).toEqual([
      'amqp://u:pa,ss@rabbit-1',
      'amqp://u:pa,ss@rabbit-2',
    ]);
    expect(splitRabbitMqUrls(['amqp://a,,amqp://b', 'amqp://a', ' '])).toEqual(['amqp://a', 'amqp://b']);
    expect(splitRabbitMqUrls('amqp://a, http://b')).toEqual(['amqp://a', 'http://b']);
  });

  it('refuses a list with a node that is not an AMQP URL, naming which one', () => {
    const refusal = (url: string | string[]): string => {
      try {
        resolveRabbitMqOptions({ kind: 'rabbitmq', url }, {});
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refusal('amqp://guest:x@rabbit-1, http://guest:secret@rabbit-2')).toMatch(
      /url \(node 2 of 2\) must start with amqp:\/\/ or amqps:\/\/.*got "http:\/\/guest:\*\*\*@rabbit-2"/,
    );
    expect(refusal('amqp://rabbit-1,rabbit-2:5672')).toMatch(
      /has a comma or a space in its host .*separate node URLs with commas and start each with amqp:\/\//,
    );
    expect(refusal([])).toMatch(/set `url`/);
    expect(refusal(['amqp://a', 7 as never])).toMatch(/url must be a string or an array of strings/);
    expect(refusal(['amqp://a', 'amqp://b', 'amqp://c', 'amqp://d'].join(','))).toBe('accepted');
    expect(() => resolveRabbitMqOptions({ kind: 'rabbitmq', url: URL, quorumReplicas: 0 }, {})).toThrow(
      /quorumReplicas must be an integer from 1 to 255; got 0/,
    );
  });

  it('never prints the password of a URL', () => {
    expect(redactUrl('amqp://u:p@rabbit-1,amqp://v:q@rabbit-2')).toBe('amqp://u:***@rabbit-1,amqp://v:***@rabbit-2');
    expect(redactUrl('amqp://rabbit-1:5672, amqp://v:q@rabbit-2')).toBe('amqp://rabbit-1:5672, amqp://v:***@rabbit-2');
    expect(redactUrl('amqp://u:pa,ss@rabbit-1')).toBe('amqp://u:***@rabbit-1');
    expect(redactUrl('amqp://u:se/cret@rabbit-1')).toBe('amqp://u:***@rabbit-1');
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
