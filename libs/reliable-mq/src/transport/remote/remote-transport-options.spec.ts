import { describe, expect, it } from 'vitest';
import { parseBrokerUrl } from './broker-url';
import { resolveRemoteTransportOptions } from './remote-transport-options';

const fix = (problem: string): never => {
  throw new Error(problem);
};

describe('parseBrokerUrl', () => {
  it.each([
    ['reliable-mq://127.0.0.1:7420', { host: '127.0.0.1', port: 7420 }],
    ['reliable-mq://broker.internal', { host: 'broker.internal', port: 7420 }],
    ['reliable-mq://[::1]:9000', { host: '::1', port: 9000 }],
  ])('reads %s', (url, expected) => {
    expect(parseBrokerUrl(url)).toEqual(expected);
  });

  it.each([
    ['127.0.0.1:7420', /not a URL|must start/],
    ['amqp://127.0.0.1', /must start with reliable-mq/],
    ['reliable-mq://u:p@host', /not in the URL/],
    ['reliable-mq://host/vhost', /only a host and a port/],
  ])('refuses %s', (url, problem) => {
    const result = parseBrokerUrl(url);
    expect('problem' in result && result.problem).toMatch(problem);
  });
});

describe('resolveRemoteTransportOptions', () => {
  it('falls back to BROKER_URL and BROKER_TOKEN, and applies defaults', () => {
    const resolved = resolveRemoteTransportOptions({ kind: 'remote' }, fix, {
      BROKER_URL: 'reliable-mq://10.0.0.5',
      BROKER_TOKEN: 'tok',
    });
    expect(resolved).toMatchObject({
      host: '10.0.0.5',
      port: 7420,
      token: 'tok',
      waitForConnection: false,
      connectTimeoutMs: 30_000,
      requestTimeoutMs: 30_000,
    });
  });

  it('prefers explicit options over the environment', () => {
    const resolved = resolveRemoteTransportOptions(
      {
        kind: 'remote',
        url: 'reliable-mq://a:1',
        token: 'mine',
        requestTimeoutMs: '5s',
        topics: ['t', { name: 'u', queueCount: 2 }],
      },
      fix,
      { BROKER_URL: 'reliable-mq://b:2', BROKER_TOKEN: 'env' },
    );
    expect(resolved).toMatchObject({
      host: 'a',
      port: 1,
      token: 'mine',
      requestTimeoutMs: 5_000,
      topics: [{ name: 't' }, { name: 'u', queueCount: 2 }],
    });
  });

  it.each([
    [{ kind: 'remote' as const }, /needs `url`.*BROKER_URL/],
    [
      { kind: 'remote' as const, url: 'reliable-mq://h', reconnectDelayMs: 100, reconnectMaxDelayMs: 10 },
      /must not be below/,
    ],
    [{ kind: 'remote' as const, url: 'reliable-mq://h', token: '' }, /token/],
    [
      { kind: 'remote' as const, url: 'reliable-mq://h', waitForConnection: 'yes' as never },
      /waitForConnection must be true .* or false/,
    ],
  ])('refuses %j with a sentence', (options, problem) => {
    expect(() => resolveRemoteTransportOptions(options, fix, {})).toThrow(problem);
  });
});
