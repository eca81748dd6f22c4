import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { EngineStats } from '@reliable-mq/engine';
import { OutboxRelayService, RELIABLE_MQ_OPTIONS, type OutboxRelayStatus } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { BrokerReachability } from '../http/broker-reachability.service';
import { OutboxService, type OutboxServiceSummary } from '../outbox/outbox.service';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';

export interface TopicOverview {
  topic: string;
  /** Messages the broker still stores for the topic; null without engine statistics. */
  storedMessages: number | null;
  publishRatePerSec: number | null;
  outboxStuck: number;
  outboxDead: number;
  unresolvedHalves: number;
  discardedHalves: number;
}

export interface GroupOverview {
  group: string;
  topic: string;
  /** Published but not yet consumed by the group: its backlog. */
  lag: number;
  inFlight: number;
  retryPending: number;
  dlqCount: number;
  deliveryRatePerSec: number;
  dedupWindowMs: number | null;
}

/**
 * A service's outbox as its broker connection leaves it: whether the transport is connected, since when it is not,
 * and the rows that wait for it. `relay`: the relay of the application hosting the console, on that service's
 * database, said so. `console`: the service runs elsewhere, and this is the console's own broker connection, the best
 * it knows: while it cannot reach the broker, the service's pending rows are taken to wait for it too.
 */
export interface OutboxRelayView extends OutboxRelayStatus {
  source: 'relay' | 'console';
}

export type OutboxServiceOverview = OutboxServiceSummary & { relay: OutboxRelayView | null };

export interface OverviewView {
  at: number;
  broker: {
    label: string;
    kind: string;
    /** False while the broker cannot be reached: the counts it gives are null, the databases' are still there. */
    reachable: boolean;
    unreachableSince: number | null;
    unreachableReason: string | null;
    statsAvailable: boolean;
    statsError: string | null;
    databaseBytes: number | null;
    scheduledPending: number | null;
  };
  topics: TopicOverview[];
  groups: GroupOverview[];
  /** Null (with `error`) when the broker could not be asked. */
  deadLetters: { total: number | null; error: string | null };
  outbox: { stuckAfterMs: number; services: OutboxServiceOverview[] };
  /** The broker's half messages; null counts (with `error`) when it could not be asked. */
  transactions: { supported: boolean; unresolved: number | null; discarded: number | null; error: string | null };
}

/** Half messages read per state to count them per topic; past this the per-topic split is partial. */
const HALF_SCAN = 1000;

@Injectable()
export class OverviewService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly outbox: OutboxService,
    private readonly catalog: ConsumerCatalog,
    private readonly reachability: BrokerReachability,
    private readonly moduleRef: ModuleRef,
  ) {}

  /**
   * Everything the console can read now. Each source fails on its own: with the broker unreachable the page still
   * has the outboxes and the half messages kept in service databases, and says since when the broker is away.
   */
  async overview(): Promise<OverviewView> {
    const broker = this.options.broker;
    const [statsRead, deadRead, outbox, halves, hostRelay] = await Promise.all([
      broker.stats ? settle(this.reachability.call(async () => broker.stats!())) : Promise.resolve(null),
      settle(this.reachability.call(() => broker.transport.deadLetters.list({ status: 'dead', limit: 1 }))),
      this.outbox.summaries(),
      this.halfMessages(),
      this.hostRelayStatus(),
    ]);
    const stats: EngineStats | null = statsRead && 'value' in statsRead ? statsRead.value : null;
    const statsError = statsRead && 'error' in statsRead ? statsRead.error : null;
    const reach = this.reachability.state();

    const topics = new Map<string, TopicOverview>();
    const topic = (name: string): TopicOverview => {
      let entry = topics.get(name);
      if (!entry) {
        entry = {
          topic: name,
          storedMessages: stats ? 0 : null,
          publishRatePerSec: stats ? 0 : null,
          outboxStuck: 0,
          outboxDead: 0,
          unresolvedHalves: 0,
          discardedHalves: 0,
        };
        topics.set(name, entry);
      }
      return entry;
    };
    for (const entry of stats?.topics ?? []) {
      if (entry.topic.startsWith('%')) continue;
      const overview = topic(entry.topic);
      overview.storedMessages = entry.queues.reduce(
        (sum, queue) => sum + Math.max(0, queue.maxOffset - queue.minOffset),
        0,
      );
      overview.publishRatePerSec = round(entry.publishRatePerSec);
    }
    for (const service of outbox.services) {
      for (const counts of service.byTopic) {
        topic(counts.topic).outboxStuck += counts.stuck;
        topic(counts.topic).outboxDead += counts.dead;
      }
    }
    for (const half of halves.unresolvedTopics) topic(half).unresolvedHalves += 1;
    for (const half of halves.discardedTopics) topic(half).discardedHalves += 1;

    const groups: GroupOverview[] = (stats?.groups ?? []).map((group) => ({
      group: group.group,
      topic: group.topic,
      lag: group.lag,
      inFlight: group.inFlight,
      retryPending: group.retryPending,
      dlqCount: group.dlqCount,
      deliveryRatePerSec: round(group.deliveryRatePerSec),
      dedupWindowMs: this.catalog.dedupWindowOf(group.group),
    }));

    return {
      at: this.options.now(),
      broker: {
        label: broker.label ?? broker.transport.kind,
        kind: broker.transport.kind,
        reachable: reach.reachable,
        unreachableSince: reach.since,
        unreachableReason: reach.reason,
        statsAvailable: stats !== null,
        statsError,
        databaseBytes: stats?.databaseBytes ?? null,
        scheduledPending: stats?.scheduledPending ?? null,
      },
      topics: [...topics.values()].sort((a, b) => a.topic.localeCompare(b.topic)),
      groups,
      deadLetters:
        'value' in deadRead ? { total: deadRead.value.total, error: null } : { total: null, error: deadRead.error },
      outbox: {
        stuckAfterMs: outbox.stuckAfterMs,
        services: outbox.services.map((service) => ({
          ...service,
          relay: this.relayView(service, hostRelay, reach),
        })),
      },
      transactions: {
        supported: halves.supported,
        unresolved: halves.unresolved,
        discarded: halves.discarded,
        error: halves.error,
      },
    };
  }

  /** The status of the host application's relay, with the DataSource it relays from; undefined without one. */
  private async hostRelayStatus(): Promise<{ dataSource: DataSource; status: OutboxRelayStatus } | undefined> {
    let relay: OutboxRelayService;
    let dataSource: DataSource | undefined;
    try {
      relay = this.moduleRef.get(OutboxRelayService, { strict: false });
      dataSource = this.moduleRef.get<{ dataSource?: DataSource }>(RELIABLE_MQ_OPTIONS, { strict: false }).dataSource;
    } catch {
      return undefined;
    }
    if (!dataSource || !relay.relay) return undefined;
    try {
      return { dataSource, status: await relay.status() };
    } catch {
      // The counts of the service's own summary still show; the state falls back to the console's view.
      return undefined;
    }
  }

  private relayView(
    service: OutboxServiceSummary,
    hostRelay: { dataSource: DataSource; status: OutboxRelayStatus } | undefined,
    reach: ReturnType<BrokerReachability['state']>,
  ): OutboxRelayView | null {
    const database = this.options.services.find((entry) => entry.name === service.name)?.dataSource;
    if (hostRelay && database === hostRelay.dataSource) return { source: 'relay', ...hostRelay.status };
    if (!service.counts) return null;
    const oldest = service.counts.oldestPendingAt;
    return {
      source: 'console',
      transportConnected: reach.reachable,
      disconnectedSince: reach.since,
      rowsHeldForBroker: reach.reachable ? 0 : service.counts.pending,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, this.options.now() - oldest),
    };
  }

  private async halfMessages(): Promise<{
    supported: boolean;
    unresolved: number | null;
    discarded: number | null;
    error: string | null;
    unresolvedTopics: string[];
    discardedTopics: string[];
  }> {
    const tx = this.options.broker.transport.transactions;
    if (!tx) {
      return { supported: false, unresolved: 0, discarded: 0, error: null, unresolvedTopics: [], discardedTopics: [] };
    }
    const [unresolved, discarded] = await Promise.all([
      settle(this.reachability.call(() => tx.listUnresolved({ limit: HALF_SCAN }))),
      settle(this.reachability.call(() => tx.listDiscarded({ limit: HALF_SCAN }))),
    ]);
    if ('error' in unresolved || 'error' in discarded) {
      const error = 'error' in unresolved ? unresolved.error : (discarded as { error: string }).error;
      return { supported: true, unresolved: null, discarded: null, error, unresolvedTopics: [], discardedTopics: [] };
    }
    return {
      supported: true,
      unresolved: unresolved.value.total,
      discarded: discarded.value.total,
      error: null,
      unresolvedTopics: unresolved.value.items.map((half) => half.topic),
      discardedTopics: discarded.value.items.map((half) => half.topic),
    };
  }
}

/** The value, or the failure's message: one source failing must not take the others with it. */
async function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: string }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
