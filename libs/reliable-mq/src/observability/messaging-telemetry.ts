import { HEADER_RESENT_FROM } from '@reliable-mq/engine';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Attributes, Context, Link, Span, Tracer } from '@opentelemetry/api';
import type { SerializedMessage } from '../producing/message-serializer';
import type { InboundMessage, Transport, TransportConfirm, TransportMessage } from '../transport/transport.interface';
import { HotPathMetrics, type ConsumerMetricAttributes } from './hot-path-metrics';
import { MessagingAttribute as A, MessagingEvent } from './messaging-attributes';
import type { RelayRowOutcome } from './metric-names';
import { openTelemetryApi, type OpenTelemetryApiModule } from './opentelemetry-api';
import { extractContext, injectContext } from './trace-context';

/** How a consumer's `process` span relates to the message's creation context. */
export type ProcessSpanRelation = 'link' | 'parent';

export interface MessagingTelemetryInit {
  /** `Transport.kind`; `rabbitmq` is reported as messaging.system `rabbitmq`, every other as `reliablemq`. */
  transportKind: string;
  processSpan?: ProcessSpanRelation;
  /** @internal The API to record through; `null` stands for an application without it. Default: the installed one. */
  api?: OpenTelemetryApiModule | null;
}

/** One operation under way; `end` takes the error when it failed. */
export interface OperationScope {
  end(error?: unknown): void;
}

/** A transactional send under way: its span is active in `run`; `annotate` adds what becomes known later. */
export interface TransactionalSendScope {
  run<T>(work: () => Promise<T>): Promise<T>;
  annotate(attributes: Readonly<Record<string, string | boolean>>): void;
  end(error?: unknown): void;
}

/** What happens to a delivery whose handler failed, by the transport's rule. */
export type FailureFate =
  | { kind: 'retry'; delayLevel?: number; retryDelayMs?: number }
  | { kind: 'dead_letter'; reason: 'non_retryable' | 'max_reconsume_times' };

/** One delivery in a consumer. */
export interface ProcessScope {
  /** Runs the dedup check and the handler with the process span active, so their own spans nest under it. */
  run<T>(work: () => Promise<T>): Promise<T>;
  dedupKey(key: string): void;
  done(duplicate: boolean): void;
  failed(error: unknown, fate: FailureFate): void;
}

/** A consumer's group and topic, with what its deliveries record under, worked out once. */
export interface ConsumerTelemetryTarget {
  readonly group: string;
  readonly topic: string;
  /** @internal */
  readonly metricAttributes: ConsumerMetricAttributes | undefined;
}

const NO_OPERATION: OperationScope = { end: () => undefined };
const NO_PROCESS: ProcessScope = {
  run: (work) => work(),
  dedupKey: () => undefined,
  done: () => undefined,
  failed: () => undefined,
};

let packageVersion: string | null | undefined;

function libraryVersion(): string | undefined {
  if (packageVersion === undefined) {
    try {
      // src/observability and dist/observability both sit two levels below the package's own package.json.
      const text = readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8');
      packageVersion = (JSON.parse(text) as { version?: string }).version ?? null;
    } catch {
      packageVersion = null;
    }
  }
  return packageVersion ?? undefined;
}

/** `error.type`: the error's class, as the conventions ask, or `_OTHER` for a thrown non-error. */
export function errorTypeOf(error: unknown): string {
  if (!(error instanceof Error)) return '_OTHER';
  const className = error.constructor?.name;
  return className && className !== 'Error' ? className : error.name || 'Error';
}

function topicOf(batch: readonly { topic: string }[]): string | undefined {
  const topic = batch[0]?.topic;
  for (const message of batch) if (message.topic !== topic) return undefined;
  return topic;
}

/** Milliseconds since the epoch encoded in a UUIDv7's first 48 bits; NaN for anything else. */
function uuidv7Millis(id: string): number {
  return parseInt(id.slice(0, 8), 16) * 0x10000 + parseInt(id.slice(9, 13), 16);
}

/**
 * ReliableMQ's spans and hot-path metrics, on `@opentelemetry/api` when the application has it installed. It never
 * starts an SDK: spans and points are recorded when the application registered one (before creating the Nest
 * application, as the OpenTelemetry SDKs expect), and without the API, or without an SDK, every method is a
 * pass-through that allocates nothing per message beyond the API's own no-op span.
 *
 * Spans follow the OpenTelemetry messaging conventions: `create {topic}` (PRODUCER) when `publish()` writes the
 * outbox row, its context stored in the row's headers; `send {topic}` (PRODUCER) for each publish to the broker, linked
 * to the creation context of every message it carries; `process {topic}` (CONSUMER) per delivery, linked to (or, with
 * `processSpan: 'parent'`, a child of) the creation context, with events for a dedup skip, a retry, a move to the DLQ
 * and a resend from the DLQ.
 */
export class MessagingTelemetry {
  private readonly api: OpenTelemetryApiModule | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly meters: HotPathMetrics | undefined;
  private readonly system: string;
  private readonly transportKind: string;
  private readonly processAsChild: boolean;

  constructor(init: MessagingTelemetryInit) {
    const api = init.api === undefined ? openTelemetryApi() : (init.api ?? undefined);
    this.api = api;
    this.transportKind = init.transportKind;
    this.system = init.transportKind === 'rabbitmq' ? 'rabbitmq' : 'reliablemq';
    this.processAsChild = init.processSpan === 'parent';
    if (api) {
      const version = libraryVersion();
      this.tracer = api.trace.getTracer('@reliable-mq/nestjs', version);
      this.meters = HotPathMetrics.create(api, this.system, version);
    }
  }

  /**
   * `create {topic}` spans for messages about to be written to the outbox, in the caller's context (or, when it has
   * none, in the context a message's own headers carry), each injected into its message's headers. `timed`: the
   * scope covers the outbox INSERT, recorded as the `create` operation's duration.
   */
  startCreate(messages: readonly SerializedMessage[], producerGroup: string, timed = true): OperationScope {
    const api = this.api;
    if (!api) return NO_OPERATION;
    const active = api.context.active();
    const callerHasSpan = api.trace.getSpanContext(active) !== undefined;
    let spans: Span[] | undefined;
    for (const message of messages) {
      const parent = callerHasSpan ? active : (extractContext(api, message.headers, active)?.context ?? active);
      const span = this.tracer!.startSpan(`create ${message.topic}`, { kind: api.SpanKind.PRODUCER }, parent);
      if (api.isSpanContextValid(span.spanContext())) {
        injectContext(api, api.trace.setSpan(parent, span), message.headers);
      }
      if (span.isRecording()) {
        span.setAttributes(this.producerAttributes('create', message));
        span.setAttribute(A.producerGroup, producerGroup);
        (spans ??= []).push(span);
      }
    }
    const meters = timed ? this.meters : undefined;
    if (!spans && !meters) return NO_OPERATION;
    const startedAt = meters ? performance.now() : 0;
    return {
      end: (error?: unknown) => {
        const errorType = error === undefined ? undefined : errorTypeOf(error);
        if (spans) for (const span of spans) this.endSpan(span, error, errorType);
        meters?.recordOperation(
          'create',
          'create',
          (performance.now() - startedAt) / 1000,
          topicOf(messages),
          errorType,
        );
      },
    };
  }

  /**
   * One publish to the broker as a `send` span linked to each message's creation context, with the sent-message
   * counter and the operation's duration. `root`: the relay's sends start traces of their own, whatever context
   * woke the relay; a direct `send()` belongs to its caller's trace.
   */
  publish(transport: Transport, batch: readonly TransportMessage[], root: boolean): Promise<TransportConfirm[]> {
    if (!this.api) return transport.publish(batch);
    return this.publishTraced(this.api, transport, batch, root);
  }

  /** Counts outbox rows by what the relay did with them. */
  relayRows(outcome: RelayRowOutcome, count: number): void {
    this.meters?.recordRelayRows(outcome, count);
  }

  /** Records, per confirmed row, the time since the publisher wrote it (the instant its UUIDv7 id carries). */
  commitToSend(rows: readonly { id: string }[], now: number): void {
    const meters = this.meters;
    if (!meters) return;
    for (const row of rows) {
      const writtenAt = uuidv7Millis(row.id);
      if (Number.isFinite(writtenAt)) meters.recordCommitToSend(Math.max(0, now - writtenAt) / 1000);
    }
  }

  /** Runs `work` outside any caller's trace: background loops must not join the request that happened to wake them. */
  detached<T>(work: () => T): T {
    const api = this.api;
    return api ? api.context.with(api.ROOT_CONTEXT, work) : work();
  }

  consumerTarget(group: string, topic: string): ConsumerTelemetryTarget {
    return { group, topic, metricAttributes: this.meters?.consumerAttributes(group, topic) };
  }

  /** A delivery's `process` span and its metrics. */
  startProcess(target: ConsumerTelemetryTarget, message: InboundMessage): ProcessScope {
    const api = this.api;
    if (!api) return NO_PROCESS;
    const carried = extractContext(api, message.headers, api.ROOT_CONTEXT);
    let parent: Context = api.ROOT_CONTEXT;
    let links: Link[] | undefined;
    if (carried) {
      if (this.processAsChild) parent = carried.context;
      else {
        // Baggage still flows to the handler; the trace is the consumer's own, linked back to the creation.
        parent = api.trace.deleteSpan(carried.context);
        links = [{ context: carried.spanContext }];
      }
    }
    const span = this.tracer!.startSpan(
      `process ${message.topic}`,
      { kind: api.SpanKind.CONSUMER, links, root: !this.processAsChild },
      parent,
    );
    const meters = this.meters;
    const valid = api.isSpanContextValid(span.spanContext());
    if (!valid && !meters) return NO_PROCESS;
    if (span.isRecording()) {
      span.setAttributes(this.consumerAttributes(target, message));
      const resentFrom = message.headers[HEADER_RESENT_FROM];
      if (resentFrom !== undefined) {
        span.setAttribute(A.resentFromDeadLetter, resentFrom);
        span.addEvent(MessagingEvent.resentFromDeadLetter, { [A.resentFromDeadLetter]: resentFrom });
      }
    }
    const consumer = target.metricAttributes;
    if (meters && consumer) meters.recordConsumed(consumer);
    const startedAt = meters ? performance.now() : 0;
    const active = valid ? api.trace.setSpan(parent, span) : undefined;
    const seconds = (): number => (performance.now() - startedAt) / 1000;
    return {
      run: (work) => (active ? api.context.with(active, work) : work()),
      dedupKey: (key) => {
        if (span.isRecording()) span.setAttribute(A.dedupKey, key);
      },
      done: (duplicate) => {
        if (span.isRecording()) {
          span.setAttribute(A.dedupHit, duplicate);
          if (duplicate) span.addEvent(MessagingEvent.duplicateSkipped);
        }
        span.end();
        if (meters && consumer)
          meters.recordProcessed(consumer, seconds(), duplicate ? 'duplicate' : 'done', undefined);
      },
      failed: (error, fate) => {
        const errorType = errorTypeOf(error);
        if (span.isRecording()) {
          const attributes: Attributes = { [A.errorType]: errorType, [A.reconsumeTimes]: message.attempt };
          if (fate.kind === 'retry') {
            if (fate.delayLevel !== undefined) attributes[A.delayLevel] = fate.delayLevel;
            if (fate.retryDelayMs !== undefined) attributes[A.retryDelayMs] = fate.retryDelayMs;
            span.addEvent(MessagingEvent.retryScheduled, attributes);
          } else {
            attributes[A.deadLetterReason] = fate.reason;
            span.addEvent(MessagingEvent.deadLettered, attributes);
          }
        }
        this.endSpan(span, error, errorType);
        if (meters && consumer) {
          meters.recordProcessed(consumer, seconds(), fate.kind === 'retry' ? 'retried' : 'dead_lettered', errorType);
        }
      },
    };
  }

  /**
   * Wraps one step in a span of its own in the current context (`local_transaction {topic}`, `commit {topic}`), and
   * records its duration as a client operation when `operation` is given.
   */
  async step<T>(
    name: string,
    kind: 'internal' | 'client',
    attributes: Readonly<Record<string, string | number | boolean>>,
    work: () => Promise<T>,
    operation?: { name: string; type: string; topic: string },
  ): Promise<T> {
    const api = this.api;
    if (!api) return work();
    const parent = api.context.active();
    const span = this.tracer!.startSpan(
      name,
      { kind: kind === 'client' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL },
      parent,
    );
    if (span.isRecording()) span.setAttributes({ [A.system]: this.system, ...attributes });
    const meters = operation ? this.meters : undefined;
    const startedAt = meters ? performance.now() : 0;
    let failure: unknown;
    let failed = false;
    try {
      return await api.context.with(api.trace.setSpan(parent, span), work);
    } catch (error) {
      failed = true;
      failure = error;
      throw error;
    } finally {
      const errorType = failed ? errorTypeOf(failure) : undefined;
      this.endSpan(span, failed ? failure : undefined, errorType);
      if (meters && operation) {
        meters.recordOperation(
          operation.name,
          operation.type,
          (performance.now() - startedAt) / 1000,
          operation.topic,
          errorType,
        );
      }
    }
  }

  /**
   * The span of a transactional send (`send {topic}`, PRODUCER, in the caller's context), injected into the half
   * message's headers as its creation context. `annotate` adds what becomes known later (transaction id, outcome).
   */
  startTransactionalSend(message: SerializedMessage, producerGroup: string): TransactionalSendScope {
    const api = this.api;
    if (!api) return { run: (work) => work(), annotate: () => undefined, end: () => undefined };
    const parent = api.context.active();
    const span = this.tracer!.startSpan(`send ${message.topic}`, { kind: api.SpanKind.PRODUCER }, parent);
    const active = api.trace.setSpan(parent, span);
    if (api.isSpanContextValid(span.spanContext())) injectContext(api, active, message.headers);
    if (span.isRecording()) {
      span.setAttributes(this.producerAttributes('send', message));
      span.setAttribute(A.producerGroup, producerGroup);
      span.setAttribute(A.transactional, true);
    }
    return {
      run: (work) => api.context.with(active, work),
      annotate: (attributes) => {
        if (span.isRecording()) span.setAttributes(attributes);
      },
      end: (error) => this.endSpan(span, error, error === undefined ? undefined : errorTypeOf(error)),
    };
  }

  /** Sends a half message, counted and timed as a send (the span is the transactional send's). */
  async sendHalf<T>(message: TransportMessage, send: () => Promise<T>): Promise<T> {
    const meters = this.meters;
    if (!meters) return send();
    const startedAt = performance.now();
    try {
      const result = await send();
      meters.recordSent([message], undefined);
      meters.recordOperation('send', 'send', (performance.now() - startedAt) / 1000, message.topic, undefined);
      return result;
    } catch (error) {
      const errorType = errorTypeOf(error);
      meters.recordSent([message], errorType);
      meters.recordOperation('send', 'send', (performance.now() - startedAt) / 1000, message.topic, errorType);
      throw error;
    }
  }

  /**
   * A checkback from the broker about one half message: `checkback {topic}` linked to (or a child of) the context
   * the half message was sent in, active while the checker runs, with the answer as its state.
   */
  async checkback(
    half: {
      topic: string;
      messageId: string;
      txId: string;
      producerGroup: string;
      checkCount: number;
      headers: Readonly<Record<string, string>>;
    },
    answer: () => Promise<string>,
  ): Promise<string> {
    const api = this.api;
    if (!api) return answer();
    const carried = extractContext(api, half.headers, api.ROOT_CONTEXT);
    const asChild = this.processAsChild && carried !== undefined;
    const parent = asChild ? carried.context : api.ROOT_CONTEXT;
    const span = this.tracer!.startSpan(
      `checkback ${half.topic}`,
      {
        kind: api.SpanKind.CONSUMER,
        root: !asChild,
        links: carried && !asChild ? [{ context: carried.spanContext }] : [],
      },
      parent,
    );
    if (span.isRecording()) {
      span.setAttributes({
        [A.system]: this.system,
        [A.operationName]: 'checkback',
        [A.operationType]: 'process',
        [A.destinationName]: half.topic,
        [A.messageId]: half.messageId,
        [A.producerGroup]: half.producerGroup,
        [A.transactionId]: half.txId,
        [A.checkCount]: half.checkCount,
        [A.transport]: this.transportKind,
      });
    }
    let result: string | undefined;
    try {
      result = await api.context.with(api.trace.setSpan(parent, span), answer);
      return result;
    } finally {
      const state = result ?? 'unknown';
      if (span.isRecording()) span.setAttribute(A.halfMessageState, state);
      span.end();
      this.meters?.recordCheckback(half.topic, state);
    }
  }

  private async publishTraced(
    api: OpenTelemetryApiModule,
    transport: Transport,
    batch: readonly TransportMessage[],
    root: boolean,
  ): Promise<TransportConfirm[]> {
    const meters = this.meters;
    const startedAt = meters ? performance.now() : 0;
    const parent = root ? api.ROOT_CONTEXT : api.context.active();
    let links: Link[] | undefined;
    for (const message of batch) {
      const carried = extractContext(api, message.headers, api.ROOT_CONTEXT);
      if (carried) (links ??= []).push({ context: carried.spanContext });
    }
    const topic = topicOf(batch);
    const span = this.tracer!.startSpan(
      topic === undefined ? 'send' : `send ${topic}`,
      { kind: api.SpanKind.PRODUCER, links, root },
      parent,
    );
    if (span.isRecording()) {
      const attributes: Attributes = {
        [A.system]: this.system,
        [A.operationName]: 'send',
        [A.operationType]: 'send',
        [A.transport]: this.transportKind,
      };
      if (topic !== undefined) attributes[A.destinationName] = topic;
      if (batch.length === 1) {
        attributes[A.messageId] = batch[0]!.id;
        attributes[A.bodySize] = batch[0]!.body.length;
        if (batch[0]!.key !== undefined) attributes[A.key] = batch[0]!.key;
      } else attributes[A.batchMessageCount] = batch.length;
      span.setAttributes(attributes);
    }
    let confirms: TransportConfirm[];
    try {
      confirms = api.isSpanContextValid(span.spanContext())
        ? await api.context.with(api.trace.setSpan(parent, span), () => transport.publish(batch))
        : await transport.publish(batch);
    } catch (error) {
      const errorType = errorTypeOf(error);
      this.endSpan(span, error, errorType);
      if (meters) {
        meters.recordSent(batch, errorType);
        meters.recordOperation('send', 'send', (performance.now() - startedAt) / 1000, topic, errorType);
      }
      throw error;
    }
    span.end();
    if (meters) {
      meters.recordSent(batch, undefined);
      meters.recordOperation('send', 'send', (performance.now() - startedAt) / 1000, topic, undefined);
    }
    return confirms;
  }

  private producerAttributes(operation: 'create' | 'send', message: SerializedMessage): Attributes {
    const attributes: Attributes = {
      [A.system]: this.system,
      [A.operationName]: operation,
      [A.operationType]: operation,
      [A.destinationName]: message.topic,
      [A.messageId]: message.id,
      [A.bodySize]: Buffer.byteLength(message.payload, 'utf8'),
      [A.transport]: this.transportKind,
    };
    if (message.key !== null) attributes[A.key] = message.key;
    return attributes;
  }

  private consumerAttributes(target: ConsumerTelemetryTarget, message: InboundMessage): Attributes {
    const attributes: Attributes = {
      [A.system]: this.system,
      [A.operationName]: 'process',
      [A.operationType]: 'process',
      [A.destinationName]: message.topic,
      [A.consumerGroupName]: target.group,
      [A.messageId]: message.id,
      [A.bodySize]: message.body.length,
      [A.reconsumeTimes]: message.attempt,
      [A.transport]: this.transportKind,
    };
    if (message.key !== null) attributes[A.key] = message.key;
    return attributes;
  }

  private endSpan(span: Span, error: unknown, errorType: string | undefined): void {
    if (errorType !== undefined && span.isRecording()) {
      if (error instanceof Error) span.recordException(error);
      span.setStatus({
        code: this.api!.SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      });
      span.setAttribute(A.errorType, errorType);
    }
    span.end();
  }
}
