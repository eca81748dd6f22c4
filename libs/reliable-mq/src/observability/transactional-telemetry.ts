import { performance } from 'node:perf_hooks';
import type { TransportMessage } from '../transport/transport.interface';
import type { SerializedMessage } from '../producing/message-serializer';
import { MessagingAttribute as A } from './messaging-attributes';
import { TelemetryBase, errorTypeOf } from './telemetry-base';
import { extractContext, injectContext } from './trace-context';

/** A transactional send under way: its span is active in `run`; `annotate` adds what becomes known later. */
export interface TransactionalSendScope {
  run<T>(work: () => Promise<T>): Promise<T>;
  annotate(attributes: Readonly<Record<string, string | boolean>>): void;
  end(error?: unknown): void;
}

/**
 * Spans and metrics of transactional (half) messages: `send {topic}` (PRODUCER) around `sendInTransaction`, its
 * context injected into the half message's headers as the creation context; `local_transaction {topic}` and
 * `commit {topic}` / `rollback {topic}` within it; and `checkback {topic}` for each checkback the broker makes,
 * linked to (or a child of) the context the half message was sent in.
 */
export class TransactionalTelemetry extends TelemetryBase {
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
}
