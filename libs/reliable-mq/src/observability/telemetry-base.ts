import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import type { SerializedMessage } from '../producing/message-serializer';
import { HotPathMetrics } from './hot-path-metrics';
import { MessagingAttribute as A } from './messaging-attributes';
import { openTelemetryApi, type OpenTelemetryApiModule } from './opentelemetry-api';

/** How a consumer's `process` span (and a checkback's) relates to the message's creation context. */
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

export const NO_OPERATION: OperationScope = { end: () => undefined };

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

/**
 * What ReliableMQ's telemetry records through: `@opentelemetry/api` when the application has it installed, its
 * tracer, and the hot-path instruments when a meter provider is registered. It never starts an SDK: spans and points
 * are recorded when the application registered one before creating the Nest application, as the OpenTelemetry SDKs
 * expect. Without the API every method of a subclass is a pass-through; with the API and no SDK, the API's no-op
 * span is all a message costs, and no attribute is built.
 */
export abstract class TelemetryBase {
  /** @internal */
  protected readonly api: OpenTelemetryApiModule | undefined;
  /** @internal */
  protected readonly tracer: Tracer | undefined;
  /** @internal */
  protected readonly meters: HotPathMetrics | undefined;
  /** @internal */
  protected readonly system: string;
  /** @internal */
  protected readonly transportKind: string;
  /** @internal */
  protected readonly processAsChild: boolean;
  /** @internal The API's no-op tracer provider, which the global proxy hands out until an SDK registers one. */
  private readonly noopTracerProvider: unknown;
  /** @internal A span that records nothing, for operations that run without tracing but are still measured. */
  protected readonly noSpan: Span | undefined;

  constructor(init: MessagingTelemetryInit) {
    const api = init.api === undefined ? openTelemetryApi() : (init.api ?? undefined);
    this.api = api;
    this.transportKind = init.transportKind;
    this.system = init.transportKind === 'rabbitmq' ? 'rabbitmq' : 'reliablemq';
    this.processAsChild = init.processSpan === 'parent';
    if (api) {
      this.noopTracerProvider = new api.ProxyTracerProvider().getDelegate();
      this.noSpan = api.trace.wrapSpanContext(api.INVALID_SPAN_CONTEXT);
      const version = libraryVersion();
      this.tracer = api.trace.getTracer('@reliable-mq/nestjs', version);
      this.meters = HotPathMetrics.create(api, this.system, version);
    }
  }

  /**
   * @internal Whether a tracer provider is registered, asked per operation so that one registered after the
   * application started is used. Without one, an operation builds no context, reads no header and starts no span: the
   * cost the hot paths pay without an SDK is this check.
   */
  protected tracing(): boolean {
    const provider = this.api?.trace.getTracerProvider() as { getDelegate?: () => unknown } | undefined;
    if (!provider) return false;
    // A provider that is not the API's own proxy (another copy of the API registered it) counts as real.
    return typeof provider.getDelegate !== 'function' || provider.getDelegate() !== this.noopTracerProvider;
  }

  /** @internal */
  protected producerAttributes(operation: 'create' | 'send', message: SerializedMessage): Attributes {
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

  /** @internal */
  protected endSpan(span: Span, error: unknown, errorType: string | undefined): void {
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
