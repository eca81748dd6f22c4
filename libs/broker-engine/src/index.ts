// The included broker engine. No framework imports: transports and apps build on this API.

// opening and topics
export { BrokerEngine, DATABASE_FILE } from './broker-engine';
// the same engine on a thread of its own: commits never block the application's event loop
export { WorkerEngine, type WorkerEngineOptions, type WorkerSubscription } from './worker/worker-engine';
export { SharedSkewClock } from './worker/shared-skew-clock';
export type * from './engine.types';

// hosting remote members: what the standalone broker also passes to subscribe for a member its connection keeps alive
export type { HostedSubscribeOptions } from './consume/subscription-options';

// errors
export * from './errors';

// message conventions shared with transports
export {
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  HEADER_RESENT_FROM,
  LAST_ERROR_LIMIT_BYTES,
  describeError,
  isNonRetryable,
  requestedRetryDelay,
} from './headers';
export { DEFAULT_DELAY_LEVELS, delayForLevel, parseDelayLevels, parseDuration } from './util/duration';
export { optionChecks, type OptionChecks } from './util/option-checks';
export { checkEditedHeaders } from './dlq/resend-edit';
export { compileTagFilter, type TagFilter } from './util/tag-filter';
export { defaultStartFrom } from './consume/start-position';
export { SUBSCRIPTION_LIMITS, withinLimit } from './consume/subscription-limits';
export { backlogTopicOf, dlqTopicOf, retryTopicOf, validateName } from './util/names';
export { stableHash } from './util/stable-hash';
export { uuidv7 } from './util/uuid-v7';
export { escapeLogText } from './util/log-text';
export { ownerOnlyDatabaseFile, ownerOnlyDirectory, writeOwnerOnlyFile } from './util/owner-only-files';

// transactional messages over any storage: the framework keeps half messages in the producer's database for brokers
// that have none, and runs the same checkback, resolutions and retention as the engine over its own ledger
export type {
  AppliedTransition,
  ClaimedCheck,
  ClaimedChecks,
  HalfLedgerQuery,
  HalfMessageLedger,
  HalfTransition,
  NewHalfRecord,
  PruneCursor,
  PrunedChunk,
  PrunedHalf,
  RefusedTransition,
} from './transactions/half-message-ledger';
export { CheckbackScheduler, type CheckbackSchedulerOptions } from './transactions/checkback-scheduler';
export {
  HalfMessageResolutions,
  checkTxId,
  type HalfResolutionsOptions,
} from './transactions/half-message-resolutions';
export {
  pruneHalfMessages,
  type HalfPruneResult,
  type HalfRetentionOptions,
} from './transactions/half-message-retention';
export {
  TRANSACTION_OUTCOMES,
  askChecker,
  isTransactionOutcome,
  normaliseCheckerAnswer,
  transactionOutcomeOf,
  type CheckerAnswer,
} from './transactions/checker-answer';
export {
  fromWireHalfMessage,
  halfMessageFields,
  halfMessageView,
  toWireHalfMessage,
  type HalfMessageFields,
  type HalfMessageView,
  type WireHalfMessage,
} from './transactions/half-message-shapes';

// metrics: names and values that the broker and the framework register with a metrics API
export {
  ATTR_GROUP,
  ATTR_PRODUCER_GROUP,
  ATTR_QUANTILE,
  ATTR_TOPIC,
  BACKLOG_METRICS,
  ENGINE_METRICS,
  backlogPoints,
  enginePoints,
  halfMessagePoints,
  observableInstruments,
  type BacklogPointOptions,
  type ObservableInstrumentFactory,
  type MetricPoint,
  type ObservedMetric,
} from './stats/engine-metrics';
// backlog: what an operator reads and does when a group falls behind
export {
  backlogReport,
  estimateDrain,
  type BacklogEntry,
  type BacklogReport,
  type DrainEstimate,
  type DrainState,
} from './backlog/backlog-report';
export type { OffsetResetPlan, QueueResetPlan, RedistributeOptions } from './backlog/offset-reset-plan';
export { BacklogMoves, type BacklogMove, type BacklogMoveRequest } from './backlog/backlog-moves';
export { loadOptionalDependency } from './util/optional-dependency';
export { SCHEMA_VERSION } from './storage/schema';

/** @internal Benchmarks prepare an engine database on a raw handle; not part of the installed API. */
export { migrate as migrateSchema } from './storage/schema';
