/** One instrument ReliableMQ records through the OpenTelemetry metrics API, as documented. */
export interface MetricDescription {
  readonly name: string;
  readonly instrument: 'counter' | 'histogram' | 'gauge' | 'updowncounter';
  /** UCUM: `s`, `By`, or an annotation such as `{message}`. */
  readonly unit: string;
  readonly description: string;
  /** Attribute names a point may carry; see MessagingAttribute. */
  readonly attributes: readonly string[];
}

/** The meter every ReliableMQ instrument comes from. */
export const RELIABLE_MQ_METER = '@reliable-mq/nestjs';

/** Values of `messaging.reliablemq.outcome` on `reliablemq.consumer.outcomes`. Failed = retried + dead_lettered. */
export const HANDLER_OUTCOMES = ['done', 'duplicate', 'retried', 'dead_lettered'] as const;
export type HandlerOutcome = (typeof HANDLER_OUTCOMES)[number];

/** Values of `messaging.reliablemq.outcome` on `reliablemq.relay.rows`. */
export const RELAY_ROW_OUTCOMES = ['sent', 'failed', 'dead', 'held', 'fenced'] as const;
export type RelayRowOutcome = (typeof RELAY_ROW_OUTCOMES)[number];

/** Seconds; the boundaries the OpenTelemetry messaging conventions advise for their duration histograms. */
export const DURATION_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

const producer = ['messaging.system', 'messaging.operation.name', 'messaging.destination.name', 'error.type'];
const consumer = [
  'messaging.system',
  'messaging.operation.name',
  'messaging.destination.name',
  'messaging.consumer.group.name',
];

/**
 * The instruments recorded where messages move (publisher, relay, consumers, transactional sends), by name. The
 * observable gauges (outbox backlog, consumer lag, DLQ and half-message counts, engine storage) are listed with
 * them in docs/observability.md.
 */
export const HOT_PATH_METRICS = {
  sentMessages: {
    name: 'messaging.client.sent.messages',
    instrument: 'counter',
    unit: '{message}',
    description:
      'Messages a producer attempted to send to the broker: relay sends of outbox rows, direct send(), half messages. `error.type` is set on the ones whose send failed.',
    attributes: producer,
  },
  consumedMessages: {
    name: 'messaging.client.consumed.messages',
    instrument: 'counter',
    unit: '{message}',
    description: 'Deliveries handed to a handler, retries and resends included.',
    attributes: consumer,
  },
  operationDuration: {
    name: 'messaging.client.operation.duration',
    instrument: 'histogram',
    unit: 's',
    description:
      'Duration of a client operation: `create` (the outbox INSERT in the business transaction), `send` (one publish to the broker, until its confirm), `commit` and `rollback` of a half message.',
    attributes: ['messaging.system', 'messaging.operation.name', 'messaging.operation.type', ...producer.slice(2)],
  },
  processDuration: {
    name: 'messaging.process.duration',
    instrument: 'histogram',
    unit: 's',
    description:
      'Duration of one delivery in the consumer: payload check, dedup check and handler (with the `db` store, its transaction). `error.type` is set when the handler failed.',
    attributes: [...consumer, 'error.type'],
  },
  handlerOutcomes: {
    name: 'reliablemq.consumer.outcomes',
    instrument: 'counter',
    unit: '{message}',
    description:
      'What became of each delivery: `done`, `duplicate` (skipped by dedup), `retried` (failed, comes back after a delay), `dead_lettered` (failed for the last time or for good). Failed deliveries are retried + dead_lettered.',
    attributes: [
      'messaging.system',
      'messaging.destination.name',
      'messaging.consumer.group.name',
      'messaging.reliablemq.outcome',
    ],
  },
  relayRows: {
    name: 'reliablemq.relay.rows',
    instrument: 'counter',
    unit: '{row}',
    description:
      'Outbox rows by what the relay did with them: `sent` (confirmed and marked), `failed` (attempt recorded, retried after a backoff), `dead` (last attempt failed), `held` (broker unreachable, given back without an attempt), `fenced` (confirmed, but another relay held the lease by then).',
    attributes: ['messaging.system', 'messaging.reliablemq.outcome'],
  },
  commitToSend: {
    name: 'reliablemq.relay.commit_to_send.duration',
    instrument: 'histogram',
    unit: 's',
    description:
      "Time from an outbox row's write in the business transaction to the broker's confirm of its send, per row.",
    attributes: ['messaging.system'],
  },
  checkbacks: {
    name: 'reliablemq.transaction.checkbacks',
    instrument: 'counter',
    unit: '{check}',
    description:
      "Checkbacks answered by this service's @TransactionChecker, by answer: `commit`, `rollback`, `unknown`.",
    attributes: ['messaging.system', 'messaging.destination.name', 'messaging.reliablemq.half_message.state'],
  },
} as const satisfies Record<string, MetricDescription>;
