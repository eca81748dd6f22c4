import { HEADER_RESENT_FROM } from '@reliable-mq/engine';
import { performance } from 'node:perf_hooks';
import type { Attributes, Context, Link, Span } from '@opentelemetry/api';
import type { SerializedMessage } from '../producing/message-serializer';
import type { InboundMessage, Transport, TransportConfirm, TransportMessage } from '../transport/transport.interface';
import type { ConsumerMetricAttributes } from './hot-path-metrics';
import { MessagingAttribute as A, MessagingEvent } from './messaging-attributes';
import type { RelayRowOutcome } from './metric-names';
import type { OpenTelemetryApiModule } from './opentelemetry-api';
import { NO_OPERATION, TelemetryBase, errorTypeOf, type OperationScope } from './telemetry-base';
import { extractContext, injectContext } from './trace-context';

export {
  errorTypeOf,
  type MessagingTelemetryInit,
  type OperationScope,
  type ProcessSpanRelation,
} from './telemetry-base';

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

const NO_PROCESS: ProcessScope = {
  run: (work) => work(),
  dedupKey: () => undefined,
  done: () => undefined,
  failed: () => undefined,
};

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
 * Spans and hot-path metrics where messages move, after the OpenTelemetry messaging conventions: `create {topic}`
 * (PRODUCER) when `publish()` writes the outbox row, its context stored in the row's headers; `send {topic}`
 * (PRODUCER) for each publish to the broker, linked to the creation context of every message it carries;
 * `process {topic}` (CONSUMER) per delivery, linked to (or, with `processSpan: 'parent'`, a child of) the creation
 * context, with events for a dedup skip, a retry, a move to the DLQ and a resend from the DLQ.
 */
export class MessagingTelemetry extends TelemetryBase {
  /**
   * `create {topic}` spans for messages about to be written to the outbox, in the caller's context (or, when it has
   * none, in the context a message's own headers carry), each injected into its message's headers. `timed`: the
   * scope covers the outbox INSERT, recorded as the `create` operation's duration.
   */
  startCreate(messages: readonly SerializedMessage[], producerGroup: string, timed = true): OperationScope {
    const api = this.api;
    const meters = timed ? this.meters : undefined;
    const tracing = this.tracing();
    if (!api || (!tracing && !meters)) return NO_OPERATION;
    let spans: Span[] | undefined;
    const active = api.context.active();
    const callerHasSpan = tracing && api.trace.getSpanContext(active) !== undefined;
    for (const message of tracing ? messages : []) {
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
    if (!this.api || (!this.meters && !this.tracing())) return transport.publish(batch);
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
    const meters = this.meters;
    const tracing = this.tracing();
    if (!api || (!tracing && !meters)) return NO_PROCESS;
    const carried = tracing ? extractContext(api, message.headers, api.ROOT_CONTEXT) : undefined;
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
    const span = tracing
      ? this.tracer!.startSpan(
          `process ${message.topic}`,
          { kind: api.SpanKind.CONSUMER, links, root: !this.processAsChild },
          parent,
        )
      : this.noSpan!;
    const valid = tracing && api.isSpanContextValid(span.spanContext());
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

  private async publishTraced(
    api: OpenTelemetryApiModule,
    transport: Transport,
    batch: readonly TransportMessage[],
    root: boolean,
  ): Promise<TransportConfirm[]> {
    const meters = this.meters;
    const startedAt = meters ? performance.now() : 0;
    const tracing = this.tracing();
    const parent = root || !tracing ? api.ROOT_CONTEXT : api.context.active();
    let links: Link[] | undefined;
    for (const message of tracing ? batch : []) {
      const carried = extractContext(api, message.headers, api.ROOT_CONTEXT);
      if (carried) (links ??= []).push({ context: carried.spanContext });
    }
    const topic = topicOf(batch);
    const span = tracing
      ? this.tracer!.startSpan(
          topic === undefined ? 'send' : `send ${topic}`,
          { kind: api.SpanKind.PRODUCER, links, root },
          parent,
        )
      : this.noSpan!;
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
      confirms =
        tracing && api.isSpanContextValid(span.spanContext())
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
}
