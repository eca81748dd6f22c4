import { Inject, Injectable } from '@nestjs/common';
import { halfMessagePoints } from '@reliable-mq/engine';
import type { MetricPoint } from '@reliable-mq/engine';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import { ConsumerExplorer } from '../consuming/consumer-explorer.service';
import { OutboxRelayService } from '../outbox/outbox-relay.service';
import type { OutboxRelayStatus } from '../outbox/outbox-relay-status';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { Transport } from '../transport/transport.interface';
import { CachedReading } from './cached-reading';
import { OutboxBacklogReader, type OutboxBacklog } from './outbox-backlog';

/**
 * What waits in this application's outbox and in its broker for its consumer groups, read when the metrics or the
 * health checks ask, at most once per `metrics.readIntervalMs`.
 *
 * - The outbox: pending rows, the oldest pending row's age, dead rows (bounded counts, see OutboxBacklogReader).
 * - The broker, for the groups this application consumes as, through the transport's `brokerMetrics`: lag in messages
 *   and, where the broker can say, in time; retries waiting; dead letters. The embedded engine also reports its
 *   storage and commits; the standalone broker reports those on its own `/metrics`. RabbitMQ tells ready messages
 *   per queue, the age of the oldest message this instance holds unacked as the lag in time (exact, a lower bound, or
 *   left out when unknown; see `RabbitMqTransport.backlog()`) and DLQ sizes per group. And this producer group's
 *   half messages.
 * Not exported: ReliableMqHealth and the metrics reach it through Nest.
 */
@Injectable()
export class BacklogMonitor {
  private readonly outboxReading: CachedReading<OutboxBacklog> | undefined;
  private readonly brokerReading: CachedReading<MetricPoint[]>;
  private readonly relayReading: CachedReading<OutboxRelayStatus>;

  constructor(
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    private readonly explorer: ConsumerExplorer,
    relay: OutboxRelayService,
  ) {
    const interval = options.metrics.readIntervalMs;
    const dataSource = options.dataSource;
    if (dataSource) {
      let reader: OutboxBacklogReader | undefined;
      this.outboxReading = new CachedReading(() => {
        reader ??= new OutboxBacklogReader(dataSource);
        return reader.read();
      }, interval);
    }
    this.brokerReading = new CachedReading(() => this.readBroker(), interval);
    this.relayReading = new CachedReading(() => relay.status(), interval);
  }

  /** The relay's view of the broker and of the rows that wait for it (OutboxRelayService.status), read as above. */
  relayStatus(fresh = false): Promise<OutboxRelayStatus> {
    return this.relayReading.get(fresh);
  }

  /** Undefined when this application has no outbox (no DataSource). */
  async outbox(): Promise<OutboxBacklog | undefined> {
    return this.outboxReading?.get();
  }

  brokerPoints(): Promise<MetricPoint[]> {
    return this.brokerReading.get();
  }

  private async readBroker(): Promise<MetricPoint[]> {
    const transport = this.transport;
    // A transport that reports no connection would only fail its calls: there is nothing to read until it is back.
    if (transport.isConnected === false) return [];
    const groups = new Set(this.explorer.explore().map((handler) => handler.options.group));
    const now = Date.now();
    const points: MetricPoint[] = (await transport.brokerMetrics?.(groups, now)) ?? [];
    const transactions = transport.transactions;
    if (transactions) {
      const producerGroup = this.options.producerGroup;
      const [unresolved, discarded] = await Promise.all([
        transactions.listUnresolved({ producerGroup, limit: 1 }),
        transactions.listDiscarded({ producerGroup, limit: 1 }),
      ]);
      points.push(...halfMessagePoints({ unresolved: unresolved.total, discarded: discarded.total }, producerGroup));
    }
    return points;
  }
}
