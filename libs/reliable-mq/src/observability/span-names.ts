/** One kind of span ReliableMQ starts, as documented. */
export interface SpanDescription {
  /** `{topic}` stands for the message's topic. */
  readonly name: string;
  readonly kind: 'PRODUCER' | 'CONSUMER' | 'CLIENT' | 'INTERNAL';
  /** Where it starts and what it covers. */
  readonly description: string;
  /** Its parent, or `root` for a trace of its own; and what it links to. */
  readonly parent: string;
  readonly links: string;
  readonly attributes: readonly string[];
  readonly events: readonly string[];
}

const messaging = [
  'messaging.system',
  'messaging.operation.name',
  'messaging.operation.type',
  'messaging.destination.name',
  'messaging.message.id',
  'messaging.reliablemq.key',
  'messaging.reliablemq.transport',
];

/** The spans ReliableMQ records through `@opentelemetry/api`, for docs/observability.md. */
export const RELIABLE_MQ_SPANS = {
  create: {
    name: 'create {topic}',
    kind: 'PRODUCER',
    description:
      "publish() writing a message's outbox row in the business transaction, or send() before its publish. Its context (W3C traceparent and tracestate, through the application's propagator) is stored in the message's headers and travels with it on every transport: the creation context.",
    parent: "the caller's active span (or the context the message's own headers carry)",
    links: 'none',
    attributes: [...messaging, 'messaging.message.body.size', 'messaging.reliablemq.producer_group', 'error.type'],
    events: [],
  },
  send: {
    name: 'send {topic}',
    kind: 'PRODUCER',
    description:
      "One publish to the broker, until its confirm: a relay round's wave of outbox rows, or a direct send(). Named `send` alone when the batch spans several topics.",
    parent: "root for the relay (a trace of its own, whatever request woke it); the caller's span for send()",
    links: 'the creation context of every message it carries (up to the SDK’s link limit, 128 by default)',
    attributes: [...messaging, 'messaging.message.body.size', 'messaging.batch.message_count', 'error.type'],
    events: [],
  },
  process: {
    name: 'process {topic}',
    kind: 'CONSUMER',
    description:
      'One delivery to a handler: payload check, dedup check and the handler (its own spans nest under it). Each retry and each resend from the DLQ is a delivery of its own.',
    parent: "root; with tracing.processSpan 'parent', the creation context",
    links: "the creation context (none with tracing.processSpan 'parent')",
    attributes: [
      ...messaging,
      'messaging.consumer.group.name',
      'messaging.message.body.size',
      'messaging.reliablemq.reconsume_times',
      'messaging.reliablemq.dedup.key',
      'messaging.reliablemq.dedup.hit',
      'messaging.reliablemq.resent_from_dlq',
      'error.type',
    ],
    events: [
      'messaging.reliablemq.duplicate_skipped',
      'messaging.reliablemq.retry_scheduled',
      'messaging.reliablemq.dead_lettered',
      'messaging.reliablemq.resent_from_dlq',
      'exception',
    ],
  },
  transactionalSend: {
    name: 'send {topic}',
    kind: 'PRODUCER',
    description:
      'sendInTransaction(): the half message, the local transaction and the commit or rollback. Its context is the creation context of the message.',
    parent: "the caller's active span",
    links: 'none',
    attributes: [
      ...messaging,
      'messaging.message.body.size',
      'messaging.reliablemq.producer_group',
      'messaging.reliablemq.transactional',
      'messaging.reliablemq.transaction_id',
      'messaging.reliablemq.half_message.state',
      'error.type',
    ],
    events: [],
  },
  localTransaction: {
    name: 'local_transaction {topic}',
    kind: 'INTERNAL',
    description: 'The local transaction of sendInTransaction(); the application’s own spans nest under it.',
    parent: 'the transactional send span',
    links: 'none',
    attributes: ['messaging.system', 'messaging.destination.name', 'messaging.reliablemq.transaction_id', 'error.type'],
    events: ['exception'],
  },
  settle: {
    name: 'commit {topic} / rollback {topic}',
    kind: 'CLIENT',
    description: "The half message's commit or rollback at the broker.",
    parent: 'the transactional send span',
    links: 'none',
    attributes: ['messaging.system', 'messaging.destination.name', 'messaging.reliablemq.transaction_id', 'error.type'],
    events: ['exception'],
  },
  checkback: {
    name: 'checkback {topic}',
    kind: 'CONSUMER',
    description: "The broker asking this producer group's @TransactionChecker about an unresolved half message.",
    parent: "root; with tracing.processSpan 'parent', the half message's creation context",
    links: "the half message's creation context",
    attributes: [
      ...messaging.filter((name) => name !== 'messaging.reliablemq.key'),
      'messaging.reliablemq.producer_group',
      'messaging.reliablemq.transaction_id',
      'messaging.reliablemq.half_message.check_count',
      'messaging.reliablemq.half_message.state',
    ],
    events: [],
  },
} as const satisfies Record<string, SpanDescription>;
