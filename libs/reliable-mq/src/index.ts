// ReliableMQ for NestJS. Grouped by who uses what.

// --- setting up
export { ReliableMqModule } from './reliable-mq.module';
export type {
  ConsumerDefaults,
  DedupOptions,
  EmbeddedTransportOptions,
  RemoteTransportOptions,
  RabbitMqTransportOptions,
  ReliableMqModuleOptions,
  RelayOptions,
  TransportOptions,
} from './reliable-mq-options.interface';
export { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT, RELIABLE_MQ_DEDUP_STORE } from './constants';

// --- producing
export {
  ReliablePublisher,
  type PublishOptions,
  type TransactionOptions,
} from './producing/reliable-publisher.service';
export type { OutgoingMessage } from './producing/outgoing-message.interface';

// --- consuming
export { MqConsumer } from './consuming/mq-consumer.decorator';
export type { MqConsumerOptions, PayloadSchema } from './consuming/mq-consumer-options.interface';
export type { MessageContext } from './consuming/message-context.interface';
export { NonRetryableError } from './errors/non-retryable.error';

// --- dedup
export type { DedupStore, DedupOutcome } from './dedup/dedup-store.interface';
export { createDedupStore } from './dedup/dedup-store.factory';
export { MemoryDedupStore } from './dedup/memory-dedup.store';
export { RedisDedupStore, type RedisDedupStoreOptions } from './dedup/redis-dedup.store';
export type { RedisDedupClient } from './dedup/redis-dedup-client.interface';
export { DbDedupStore, type DbDedupStoreOptions } from './dedup/db-dedup.store';
export type { DbDedupBatchOptions } from './dedup/db-dedup-batcher';

// --- operating
export { ConsumerRunner, type HandlerCounters } from './consuming/consumer-runner.service';
export { OutboxRelayService } from './outbox/outbox-relay.service';
export type { OutboxRelayStatus } from './outbox/outbox-relay-status';
export { OutboxRelay } from './outbox/outbox-relay';
export {
  OutboxMessageEntity,
  OUTBOX_TABLE,
  type OutboxMessage,
  type OutboxStatus,
} from './outbox/outbox-message.entity';
export { InboxMessage, INBOX_TABLE } from './dedup/inbox-message.entity';
export { reliableMqEntities } from './reliable-mq.entities';
export { EscapingLogger } from './logging/escaping-logger';
export { escapeLogText } from '@reliable-mq/engine';

// --- observability: spans and metrics on @opentelemetry/api (an optional peer), never an SDK of its own
export type { TracingOptions } from './reliable-mq-options.interface';
export { MessagingAttribute, MessagingEvent } from './observability/messaging-attributes';
export { RELIABLE_MQ_SPANS, type SpanDescription } from './observability/span-names';
export {
  DURATION_BUCKETS_S,
  HANDLER_OUTCOMES,
  HOT_PATH_METRICS,
  RELAY_ROW_OUTCOMES,
  RELIABLE_MQ_METER,
  type HandlerOutcome,
  type MetricDescription,
  type RelayRowOutcome,
} from './observability/metric-names';
export type { MetricsOptions } from './reliable-mq-options.interface';
export { OBSERVABLE_METRICS, OUTBOX_METRICS } from './observability/observable-metric-names';
export type { ObservedMetric } from '@reliable-mq/engine';
export { ReliableMqHealth, type ReliableMqHealthReport } from './health/reliable-mq-health.service';

// --- transports
export type {
  ConnectionListener,
  ConsumerPayloadCheck,
  DeadLetterOperations,
  InboundHandler,
  InboundMessage,
  SubscriptionSpec,
  Transport,
  TransportConfirm,
  TransportMessage,
  TransportSubscription,
} from './transport/transport.interface';
export type { BackgroundConnectResult } from './transport/background-connect-result';
export type { TransportFactory, TransportFactoryContext, TransportLogger } from './transport/transport-factory';
export { EmbeddedTransport } from './transport/embedded.transport';
export { RemoteTransport, type RemoteTransportHooks } from './transport/remote/remote.transport';
export { RabbitMqTransport, type RabbitMqTransportInit } from './transport/rabbitmq/rabbitmq.transport';
export { OutboxTransactionalOperations } from './transactions/outbox-transactional-operations';

// --- transactional messages
export { TransactionChecker } from './transactions/transaction-checker.decorator';
export type {
  TransactionCheckContext,
  TransactionCheckerOptions,
  TransactionCheckMethod,
} from './transactions/transaction-checker-options.interface';
export { TransactionCheckerRegistry } from './transactions/transaction-checker-registry.service';
export type {
  LocalTransaction,
  LocalTransactionContext,
  LocalTransactionOutcome,
  TransactionalSendResult,
} from './producing/transactional-send';
export type {
  HalfMessageListQuery,
  HalfSendConfirm,
  TransactionalOperations,
  TransactionCheckHandler,
} from './transport/transport.interface';
export type { HalfMessage, HalfMessagePage, HalfMessageState, TransactionOutcome } from '@reliable-mq/engine';

// --- schema: the framework's tables in the application's database
export { epochMsTransformer } from './schema/epoch-ms.transformer';
export {
  reliableMqMigrations,
  runReliableMqMigrations,
  MIGRATIONS_TABLE,
  type MigrationClass,
  type ReliableMqDatabaseType,
} from './migrations';

// --- tools: the console, the standalone broker and the benchmarks read these; they follow the framework's rules
export { ConsumerExplorer } from './consuming/consumer-explorer.service';
export { parseAndValidate, payloadValidatorFor } from './consuming/payload-validator';
export { DEFAULT_DONE_TTL_MS, resolveDedupDuration } from './dedup/dedup-duration';
export { DEFAULT_INBOX_RETENTION_MS } from './dedup/db-dedup.store';
export { outboxDialect, type OutboxDialect } from './outbox/outbox-dialect';
export { createOutboxStore } from './outbox/create-outbox-store';
export type { ClaimRequest, ClaimedRow, FailureMark, OutboxStore } from './outbox/outbox-store.interface';
export {
  OUTBOX_ORDER_COLUMN_NAMES,
  operatorRefusal,
  type OutboxOrderColumn,
  type OutboxProblem,
  type OutboxProblemCounts,
  type OutboxProblemQuery,
  type OutboxTopicProblems,
} from './outbox/outbox-problems';
export { outboxRowFromRaw } from './outbox/outbox-row.codec';
export { RELAY_DEFAULTS } from './outbox/outbox-relay-options';
export { redactUrl, splitRabbitMqUrls } from './transport/rabbitmq/rabbitmq-options.resolver';
export { parseBrokerUrl, type BrokerAddress } from './transport/remote/broker-url';

// --- errors
export * from './errors';
