import { Module, type Provider } from '@nestjs/common';
import { EscapingLogger } from './logging/escaping-logger';
import { DiscoveryModule } from '@nestjs/core';
import { RELIABLE_MQ_DEDUP_STORE, RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from './constants';
import { ConsumerExplorer } from './consuming/consumer-explorer.service';
import { ConsumerMetadataAccessor } from './consuming/consumer-metadata.accessor';
import { ConsumerRunner } from './consuming/consumer-runner.service';
import { createDedupStore } from './dedup/dedup-store.factory';
import { ReliableMqHealth } from './health/reliable-mq-health.service';
import { BacklogMonitor } from './observability/backlog-monitor.service';
import { ObservableMetrics } from './observability/observable-metrics.service';
import { OutboxRelayService } from './outbox/outbox-relay.service';
import { ReliablePublisher } from './producing/reliable-publisher.service';
import type { ReliableMqModuleOptions } from './reliable-mq-options.interface';
import { resolveReliableMqOptions, type ResolvedReliableMqOptions } from './reliable-mq-options.resolver';
import { RELIABLE_MQ_MODULE_OPTIONS, ReliableMqConfigurableModule } from './reliable-mq.module-definition';
import { ReliableMqLifecycle } from './reliable-mq.lifecycle';
import { TransactionCheckerExplorer } from './transactions/transaction-checker-explorer.service';
import { TransactionCheckerRegistry } from './transactions/transaction-checker-registry.service';
import { createTransport } from './transport/create-transport';
import { RelayWakeup } from './transport/relay-wakeup';
import type { Transport } from './transport/transport.interface';

const providers: Provider[] = [
  {
    provide: RELIABLE_MQ_OPTIONS,
    useFactory: (raw: ReliableMqModuleOptions) => resolveReliableMqOptions(raw),
    inject: [RELIABLE_MQ_MODULE_OPTIONS],
  },
  RelayWakeup,
  {
    provide: RELIABLE_MQ_TRANSPORT,
    useFactory: (options: ResolvedReliableMqOptions, wakeup: RelayWakeup): Promise<Transport> =>
      createTransport(options, wakeup),
    inject: [RELIABLE_MQ_OPTIONS, RelayWakeup],
  },
  {
    provide: RELIABLE_MQ_DEDUP_STORE,
    useFactory: (options: ResolvedReliableMqOptions) => {
      const logger = new EscapingLogger('ReliableMqDedup');
      return createDedupStore(options.dedup, options.dataSource, {
        warn: (message: string) => logger.warn(message),
      });
    },
    inject: [RELIABLE_MQ_OPTIONS],
  },
  OutboxRelayService,
  {
    provide: ReliablePublisher,
    useFactory: (
      options: ResolvedReliableMqOptions,
      transport: Transport,
      relay: OutboxRelayService,
      wakeup: RelayWakeup,
    ) => {
      // Outbox rows a transport writes itself (transactional messages committed into the outbox) go out at once.
      wakeup.attach(() => relay.wake());
      return new ReliablePublisher({
        dataSource: options.dataSource,
        transport,
        producerGroup: options.producerGroup,
        maxPayloadBytes: options.maxPayloadBytes,
        wakeRelay: () => relay.wake(),
      });
    },
    inject: [RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT, OutboxRelayService, RelayWakeup],
  },
  ConsumerMetadataAccessor,
  ConsumerExplorer,
  ConsumerRunner,
  TransactionCheckerExplorer,
  TransactionCheckerRegistry,
  ReliableMqLifecycle,
  BacklogMonitor,
  ObservableMetrics,
  ReliableMqHealth,
];

/**
 * ReliableMQ for a Nest application:
 *
 *     ReliableMqModule.forRoot({ producerGroup: 'order-service', dataSource, transport: { kind: 'embedded', dataDir: './data/broker' } })
 *
 * or `forRootAsync({ useFactory, inject })`. Global by default (`isGlobal: false` to opt out).
 */
@Module({
  imports: [DiscoveryModule],
  providers,
  exports: [
    ReliablePublisher,
    RELIABLE_MQ_TRANSPORT,
    RELIABLE_MQ_OPTIONS,
    ConsumerRunner,
    OutboxRelayService,
    ReliableMqHealth,
  ],
})
export class ReliableMqModule extends ReliableMqConfigurableModule {}
