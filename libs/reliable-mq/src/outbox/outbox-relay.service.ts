import { Inject, Injectable } from '@nestjs/common';
import { EscapingLogger } from '../logging/escaping-logger';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { Transport } from '../transport/transport.interface';
import { OutboxRelay, type OutboxRelayMetrics } from './outbox-relay';

/**
 * The relay as a Nest provider. Without a DataSource, or with `relay.enabled: false`,
 * there is nothing to relay in this process and every method is a no-op.
 */
@Injectable()
export class OutboxRelayService {
  readonly relay: OutboxRelay | null;

  constructor(
    @Inject(RELIABLE_MQ_OPTIONS) options: ResolvedReliableMqOptions,
    @Inject(RELIABLE_MQ_TRANSPORT) transport: Transport,
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
}
