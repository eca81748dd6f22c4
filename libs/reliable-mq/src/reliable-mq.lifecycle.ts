import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { EscapingLogger } from './logging/escaping-logger';
import { runReliableMqMigrations } from './migrations';
import { RELIABLE_MQ_DEDUP_STORE, RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from './constants';
import { ConsumerRunner } from './consuming/consumer-runner.service';
import type { DedupStore } from './dedup/dedup-store.interface';
import { OutboxRelayService } from './outbox/outbox-relay.service';
import { ReliablePublisher } from './producing/reliable-publisher.service';
import type { ResolvedReliableMqOptions } from './reliable-mq-options.resolver';
import { TransactionCheckerRegistry } from './transactions/transaction-checker-registry.service';
import type { Transport } from './transport/transport.interface';

/**
 * Orders start and stop. Start: migrations (if asked) → relay → consumers after
 * bootstrap. Stop (with `enableShutdownHooks`): stop taking messages and let in-flight
 * handlers finish (bounded), stop the relay, then flush and close the broker connection.
 */
@Injectable()
export class ReliableMqLifecycle
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new EscapingLogger('ReliableMq');

  constructor(
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    @Inject(RELIABLE_MQ_DEDUP_STORE) private readonly dedup: DedupStore,
    private readonly consumers: ConsumerRunner,
    private readonly relay: OutboxRelayService,
    private readonly transactionCheckers: TransactionCheckerRegistry,
    private readonly publisher: ReliablePublisher,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.options.runMigrations && this.options.dataSource) {
      const applied = await runReliableMqMigrations(this.options.dataSource);
      if (applied.length > 0) this.logger.log(`Applied migrations: ${applied.join(', ')}`);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.relay.start();
    await this.transactionCheckers.start();
    await this.consumers.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.transactionCheckers.stop();
    await this.consumers.stop(this.options.shutdownTimeoutMs);
    await this.relay.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    this.publisher.close();
    await this.transport.close();
    await this.dedup.close();
  }
}
