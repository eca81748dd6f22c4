import type { Context, SpanContext } from '@opentelemetry/api';
import type { OpenTelemetryApiModule } from './opentelemetry-api';

/** @internal A context read from a message's headers, with the span context it carries. */
export interface CarriedContext {
  context: Context;
  spanContext: SpanContext;
}

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Writes `context` into a message's headers through the application's propagator (the Node SDK registers W3C trace
 * context and baggage). With a tracer provider registered but no propagator, the W3C `traceparent` and `tracestate`
 * are written all the same: a message crosses processes, and its context must reach the consumer.
 * @internal
 */
export function injectContext(api: OpenTelemetryApiModule, context: Context, headers: Record<string, string>): void {
  if (api.propagation.fields().length > 0) {
    api.propagation.inject(context, headers);
    return;
  }
  const spanContext = api.trace.getSpanContext(context);
  if (!spanContext || !api.isSpanContextValid(spanContext)) return;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  headers[TRACEPARENT] = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
  const state = spanContext.traceState?.serialize();
  if (state) headers[TRACESTATE] = state;
}

/**
 * The context a message's headers carry, on top of `base`, or undefined when they carry no valid span context. The
 * common case without tracing (no `traceparent` header, no propagator) costs a property read.
 * @internal
 */
export function extractContext(
  api: OpenTelemetryApiModule,
  headers: Readonly<Record<string, string>>,
  base: Context,
): CarriedContext | undefined {
  if (api.propagation.fields().length > 0) {
    const context = api.propagation.extract(base, headers);
    const spanContext = api.trace.getSpanContext(context);
    return spanContext && api.isSpanContextValid(spanContext) ? { context, spanContext } : undefined;
  }
  const spanContext = parseTraceparent(api, headers[TRACEPARENT], headers[TRACESTATE]);
  return spanContext ? { context: api.trace.setSpanContext(base, spanContext), spanContext } : undefined;
}

function parseTraceparent(
  api: OpenTelemetryApiModule,
  traceparent: string | undefined,
  tracestate: string | undefined,
): SpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT_FORMAT.exec(traceparent.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version ff is invalid; version 00 has nothing after the flags. Later versions may append fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const spanContext: SpanContext = {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16) & 0x01,
    isRemote: true,
  };
  if (!api.isSpanContextValid(spanContext)) return undefined;
  if (typeof tracestate === 'string' && tracestate.length > 0)
    spanContext.traceState = api.createTraceState(tracestate);
  return spanContext;
}
