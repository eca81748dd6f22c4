/**
 * Attribute names on ReliableMQ's spans and metric points: the OpenTelemetry messaging semantic conventions, then
 * ReliableMQ's own facts under `messaging.reliablemq.*`. Plain strings, so that nothing here needs
 * `@opentelemetry/api` or `@opentelemetry/semantic-conventions` installed.
 */
export const MessagingAttribute = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destinationName: 'messaging.destination.name',
  consumerGroupName: 'messaging.consumer.group.name',
  messageId: 'messaging.message.id',
  bodySize: 'messaging.message.body.size',
  batchMessageCount: 'messaging.batch.message_count',
  errorType: 'error.type',
  /** The message's business key (ordering and dedup). */
  key: 'messaging.reliablemq.key',
  /** The producer group that wrote the outbox row or sent the half message. */
  producerGroup: 'messaging.reliablemq.producer_group',
  /** Failed attempts before this delivery (RocketMQ's reconsume times): 0 on the first. */
  reconsumeTimes: 'messaging.reliablemq.reconsume_times',
  /** The retry's delay level (RocketMQ's rule: the subscription's level n, or level 3 + n on the default levels). */
  delayLevel: 'messaging.reliablemq.delay_level',
  /** The delay a handler asked for with `error.retryDelayMs`, in place of the level's. */
  retryDelayMs: 'messaging.reliablemq.retry_delay_ms',
  /** The dedup key the delivery was checked against. */
  dedupKey: 'messaging.reliablemq.dedup.key',
  /** True when the dedup store found the effect done already and the handler did not run. */
  dedupHit: 'messaging.reliablemq.dedup.hit',
  /** Why a delivery went to the DLQ: `non_retryable` (the error said so) or `max_reconsume_times`. */
  deadLetterReason: 'messaging.reliablemq.dead_letter.reason',
  /** The dead letter an operator resent this delivery from. */
  resentFromDeadLetter: 'messaging.reliablemq.resent_from_dlq',
  /** What became of a delivery or an outbox row: see `HandlerOutcome` and `RelayRowOutcome`. */
  outcome: 'messaging.reliablemq.outcome',
  /** The transport: `embedded`, `remote`, `rabbitmq` or one written outside the package. */
  transport: 'messaging.reliablemq.transport',
  /** Transactional (half) messages. */
  transactional: 'messaging.reliablemq.transactional',
  transactionId: 'messaging.reliablemq.transaction_id',
  /** `commit`, `rollback` or `unknown`: the local transaction's or the checker's answer. */
  halfMessageState: 'messaging.reliablemq.half_message.state',
  /** Checkbacks the broker had made before this one. */
  checkCount: 'messaging.reliablemq.half_message.check_count',
} as const;

/** Span events ReliableMQ adds to a trace. */
export const MessagingEvent = {
  /** On a `process` span: the dedup store found the effect done; the handler did not run. */
  duplicateSkipped: 'messaging.reliablemq.duplicate_skipped',
  /** On a `process` span: the handler failed and the message comes back after a delay. */
  retryScheduled: 'messaging.reliablemq.retry_scheduled',
  /** On a `process` span: the handler failed for the last time (or for good) and the message moves to the DLQ. */
  deadLettered: 'messaging.reliablemq.dead_lettered',
  /** On a `process` span: the delivery is a copy an operator resent from the DLQ. */
  resentFromDeadLetter: 'messaging.reliablemq.resent_from_dlq',
} as const;
