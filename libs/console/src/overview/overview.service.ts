import { Inject, Injectable } from '@nestjs/common';
import type { EngineStats } from '@reliable-mq/engine';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { brokerCall } from '../http/broker-errors';
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

export interface OverviewView {
  at: number;
  broker: {
    label: string;
    kind: string;
    statsAvailable: boolean;
    statsError: string | null;
    databaseBytes: number | null;
    scheduledPending: number | null;
  };
  topics: TopicOverview[];
  groups: GroupOverview[];
  deadLetters: { total: number };
  outbox: { stuckAfterMs: number; services: OutboxServiceSummary[] };
  transactions: { supported: boolean; unresolved: number; discarded: number };
}

/** Half messages read per state to count them per topic; past this the per-topic split is partial. */
const HALF_SCAN = 1000;

@Injectable()
export class OverviewService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly outbox: OutboxService,
    private readonly catalog: ConsumerCatalog,
  ) {}

  async overview(): Promise<OverviewView> {
    const broker = this.options.broker;
    let stats: EngineStats | null = null;
    let statsError: string | null = null;
    if (broker.stats) {
      try {
        stats = await broker.stats();
      } catch (error) {
        statsError = (error as Error).message;
      }
    }
    const [dead, outbox, halves] = await Promise.all([
      brokerCall(() => broker.transport.deadLetters.list({ status: 'dead', limit: 1 })),
      this.outbox.summaries(),
      this.halfMessages(),
    ]);

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
        statsAvailable: stats !== null,
        statsError,
        databaseBytes: stats?.databaseBytes ?? null,
        scheduledPending: stats?.scheduledPending ?? null,
      },
      topics: [...topics.values()].sort((a, b) => a.topic.localeCompare(b.topic)),
      groups,
      deadLetters: { total: dead.total },
      outbox,
      transactions: { supported: halves.supported, unresolved: halves.unresolved, discarded: halves.discarded },
    };
  }

  private async halfMessages(): Promise<{
    supported: boolean;
    unresolved: number;
    discarded: number;
    unresolvedTopics: string[];
    discardedTopics: string[];
  }> {
    const tx = this.options.broker.transport.transactions;
    if (!tx) return { supported: false, unresolved: 0, discarded: 0, unresolvedTopics: [], discardedTopics: [] };
    const [unresolved, discarded] = await Promise.all([
      brokerCall(() => tx.listUnresolved({ limit: HALF_SCAN })),
      brokerCall(() => tx.listDiscarded({ limit: HALF_SCAN })),
    ]);
    return {
      supported: true,
      unresolved: unresolved.total,
      discarded: discarded.total,
      unresolvedTopics: unresolved.items.map((half) => half.topic),
      discardedTopics: discarded.items.map((half) => half.topic),
    };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
