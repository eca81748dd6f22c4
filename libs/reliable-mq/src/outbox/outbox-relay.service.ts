import { Inject, Injectable } from '@nestjs/common';
import { EscapingLogger } from '../logging/escaping-logger';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { Transport } from '../transport/transport.interface';
import { OutboxRelay, type OutboxRelayMetrics } from './outbox-relay';
import type { OutboxRelayStatus } from './outbox-relay-status';

/**
 * The relay as a Nest provider. Without a DataSource, or with `relay.enabled: false`,
 * there is nothing to relay in this process and every method is a no-op.
 */
@Injectable()
export class OutboxRelayService {
  readonly relay: OutboxRelay | null;

  constructor(
    @Inject(RELIABLE_MQ_OPTIONS) options: ResolvedReliableMqOptions,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
  ) {
    this.relay =
      options.relay.enabled && options.dataSource
        ? new OutboxRelay({
            dataSource: options.dataSource,
            transport,
            options: options.relay,
            logger: new EscapingLogger('OutboxRelay'),
          })
        : null;
  }

  start(): void {
    this.relay?.start();
  }

  /** Drains due rows now; called after a commit that wrote outbox rows. */
  wake(): void {
    this.relay?.wake();
  }

  async stop(): Promise<void> {
    await this.relay?.stop();
  }

  /** Rows not yet confirmed by the broker (pending, including ones waiting for a retry). */
  async pendingCount(): Promise<number> {
    return this.relay ? this.relay.pendingCount() : 0;
  }

  metrics(): OutboxRelayMetrics | null {
    return this.relay?.metrics() ?? null;
  }

  /**
   * Readiness as the outbox sees it: whether the transport is connected, since when it is not, how many outbox rows
   * wait because of it, and how long the oldest pending row has waited. For readiness probes, metrics and the
   * console. Each call reads the outbox table (one indexed statement, plus a count of the pending rows during an
   * outage), so a caller probed often should keep the answer for a few seconds. Without a relay in this process the
   * transport's state alone is known: no outage start, no rows.
   */
  async status(): Promise<OutboxRelayStatus> {
    if (this.relay) return this.relay.status();
    return {
      transportConnected: this.transport.isConnected !== false,
      disconnectedSince: null,
      rowsHeldForBroker: 0,
      oldestPendingAgeMs: null,
    };
  }
}
