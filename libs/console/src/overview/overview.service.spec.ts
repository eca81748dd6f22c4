import type { ModuleRef } from '@nestjs/core';
import { OutboxRelayService, RELIABLE_MQ_OPTIONS, type OutboxRelayStatus } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { BrokerReachability, BrokerReachabilityState } from '../http/broker-reachability.service';
import type { OutboxService, OutboxServiceSummary } from '../outbox/outbox.service';
import type { ConsumerCatalog } from '../sources/consumer-catalog.service';
import { OverviewService } from './overview.service';

/*
 * The transport's state beside each service's outbox counts: from the relay of the application hosting the console
 * when it relays from that service's database, otherwise from the console's own broker connection.
 */

const NOW = 1_700_000_000_000;
const hostDatabase = { name: 'host' } as unknown as DataSource;
const otherDatabase = { name: 'other' } as unknown as DataSource;

function summary(name: string, pending: number, oldestAgeMs: number): OutboxServiceSummary {
  return {
    name,
    database: 'better-sqlite3',
    counts: { pending, stuck: 0, dead: 0, oldestPendingAt: NOW - oldestAgeMs },
    byTopic: [],
    halfMessages: null,
    error: null,
  };
}

function overviewWith(reach: BrokerReachabilityState, hostRelay: OutboxRelayStatus | 'none'): OverviewService {
  const options = {
    broker: {
      label: 'test',
      transport: { kind: 'remote', deadLetters: { list: async () => ({ total: 0, items: [] }) } },
    },
    services: [
      { name: 'orders', dataSource: hostDatabase },
      { name: 'billing', dataSource: otherDatabase },
    ],
    now: () => NOW,
  } as unknown as ResolvedConsoleOptions;
  const outbox = {
    summaries: async () => ({
      stuckAfterMs: 60_000,
      services: [summary('orders', 7, 5_000), summary('billing', 3, 2_000)],
    }),
  } as unknown as OutboxService;
  const catalog = { dedupWindowOf: () => null } as unknown as ConsumerCatalog;
  const reachability = {
    call: <T>(operation: () => Promise<T>) => operation(),
    state: () => reach,
  } as unknown as BrokerReachability;
  const moduleRef = {
    get(token: unknown) {
      if (hostRelay === 'none') throw new Error('not in this application');
      if (token === OutboxRelayService) return { relay: {}, status: async () => hostRelay };
      if (token === RELIABLE_MQ_OPTIONS) return { dataSource: hostDatabase };
      throw new Error('unexpected lookup');
    },
  } as unknown as ModuleRef;
  return new OverviewService(options, outbox, catalog, reachability, moduleRef);
}

describe('OverviewService: the transport beside the outbox counts', () => {
  it("takes the host application's relay for its own database, and the console's connection for the others", async () => {
    const hostStatus: OutboxRelayStatus = {
      transportConnected: false,
      disconnectedSince: NOW - 9_000,
      rowsHeldForBroker: 7,
      oldestPendingAgeMs: 5_000,
    };
    const view = await overviewWith({ reachable: false, since: NOW - 8_000, reason: 'gone' }, hostStatus).overview();
    const [orders, billing] = view.outbox.services;
    expect(orders!.relay).toEqual({ source: 'relay', ...hostStatus });
    expect(billing!.relay).toEqual({
      source: 'console',
      transportConnected: false,
      disconnectedSince: NOW - 8_000,
      rowsHeldForBroker: 3,
      oldestPendingAgeMs: 2_000,
    });
  });

  it('holds no rows for a reachable broker, and works without a ReliableMqModule in the host', async () => {
    const view = await overviewWith({ reachable: true, since: null, reason: null }, 'none').overview();
    expect(view.outbox.services.map((service) => service.relay)).toEqual([
      {
        source: 'console',
        transportConnected: true,
        disconnectedSince: null,
        rowsHeldForBroker: 0,
        oldestPendingAgeMs: 5_000,
      },
      {
        source: 'console',
        transportConnected: true,
        disconnectedSince: null,
        rowsHeldForBroker: 0,
        oldestPendingAgeMs: 2_000,
      },
    ]);
  });
});
