import { describe, expect, it } from 'vitest';
import type { HelloResult } from '@reliable-mq/protocol';
import { createRemoteBacklog } from './remote-backlog';

const hello = (extra: Partial<HelloResult>): HelloResult => ({
  protocol: 1,
  server: 'reliable-mq-broker',
  version: '0.1.0',
  maxFrameBytes: 8 * 1024 * 1024,
  heartbeatMs: 5000,
  idleTimeoutMs: 20_000,
  maxBatchSize: 1000,
  maxBodyBytes: 4 * 1024 * 1024,
  ...extra,
});

describe('remote backlog calls', () => {
  it('never asks a broker that does not announce them, and says to upgrade it', async () => {
    const sent: string[] = [];
    const backlog = createRemoteBacklog(
      async (op) => {
        sent.push(op);
        return {};
      },
      () => hello({}),
    );
    await expect(backlog.report()).rejects.toMatchObject({
      brokerCode: 'UNKNOWN_OP',
      message: expect.stringMatching(/version 0\.1\.0\) has no backlog calls; upgrade it to use "backlog\.report"/),
    });
    await expect(backlog.expandQueues('t', 8)).rejects.toThrow(/has no backlog calls/);
    expect(sent).toEqual([]);
  });

  it('sends each call with its arguments, and gives a move more time than other calls', async () => {
    const sent: Array<[string, unknown, number | undefined]> = [];
    const backlog = createRemoteBacklog(
      async (op, args, timeoutMs) => {
        sent.push([op, args, timeoutMs]);
        return {};
      },
      () => hello({ backlogCalls: true }),
    );
    await backlog.report();
    await backlog.expandQueues('orders', 16);
    await backlog.redistribute({ group: 'g', fromTopic: 'orders', toTopic: 'orders.wide', operation: 'm' });
    await backlog.previewReset('g', 'orders', 5);
    expect(sent.map(([op, args]) => [op, args])).toEqual([
      ['backlog.report', {}],
      ['backlog.expand', { topic: 'orders', queueCount: 16 }],
      ['backlog.redistribute', { group: 'g', fromTopic: 'orders', toTopic: 'orders.wide', operation: 'm' }],
      ['backlog.resetPreview', { group: 'g', topic: 'orders', timestamp: 5 }],
    ]);
    expect(sent[2]![2]).toBe(30 * 60 * 1000);
    expect(sent[0]![2]).toBeUndefined();
  });
});
