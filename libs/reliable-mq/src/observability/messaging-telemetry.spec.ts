import * as api from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import type { SerializedMessage } from '../producing/message-serializer';
import type { InboundMessage, Transport, TransportMessage } from '../transport/transport.interface';
import { MessagingAttribute, MessagingEvent } from './messaging-attributes';
import { MessagingTelemetry } from './messaging-telemetry';
import { HOT_PATH_METRICS } from './metric-names';
import { RELIABLE_MQ_SPANS } from './span-names';
import { extractContext, injectContext } from './trace-context';

const message = (): SerializedMessage => ({
  id: '0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b',
  topic: 'order.created',
  key: 'o-1',
  tags: [],
  headers: {},
  payload: '{"orderId":"o-1"}',
  deliverAt: null,
});

const inbound = (headers: Record<string, string> = {}): InboundMessage => ({
  id: 'm-1',
  topic: 'order.created',
  key: 'o-1',
  tags: [],
  headers,
  body: Buffer.from('{}'),
  attempt: 0,
  bornAt: 0,
});

function recordingTransport(): Transport & { batches: TransportMessage[][] } {
  const batches: TransportMessage[][] = [];
  return {
    kind: 'embedded',
    batches,
    connect: async () => undefined,
    ensureTopic: async () => undefined,
    publish: async (batch) => {
      batches.push([...batch]);
      return batch.map((entry) => ({ id: entry.id, duplicate: false }));
    },
    subscribe: async () => ({ close: async () => undefined }),
    deadLetters: {} as Transport['deadLetters'],
    close: async () => undefined,
  };
}

afterEach(() => {
  api.trace.disable();
  api.propagation.disable();
  api.context.disable();
});

describe('MessagingTelemetry without @opentelemetry/api', () => {
  const telemetry = new MessagingTelemetry({ transportKind: 'embedded', api: null });

  it('passes every call through, writes no header and fails nothing', async () => {
    const messages = [message()];
    telemetry.startCreate(messages, 'order-service').end(new Error('rolled back'));
    expect(messages[0]!.headers).toEqual({});
    const transport = recordingTransport();
    await expect(
      telemetry.publish(transport, [{ id: 'm-1', topic: 't', headers: {}, body: Buffer.alloc(0) }], true),
    ).resolves.toEqual([{ id: 'm-1', duplicate: false }]);
    const processing = telemetry.startProcess(telemetry.consumerTarget('g', 't'), inbound());
    await expect(processing.run(async () => 'ran')).resolves.toBe('ran');
    processing.failed(new Error('x'), { kind: 'dead_letter', reason: 'non_retryable' });
    expect(telemetry.detached(() => 42)).toBe(42);
    telemetry.relayRows('sent', 3);
    telemetry.commitToSend([{ id: message().id }], Date.now());
  });
});

describe('MessagingTelemetry with the API and no SDK', () => {
  const telemetry = new MessagingTelemetry({ transportKind: 'embedded' });

  it('writes no header and hands out its shared no-op scopes: nothing is allocated per message', () => {
    const messages = [message()];
    const first = telemetry.startCreate(messages, 'order-service');
    const second = telemetry.startCreate([message()], 'order-service');
    expect(first).toBe(second);
    expect(messages[0]!.headers).toEqual({});
    const target = telemetry.consumerTarget('g', 'order.created');
    expect(telemetry.startProcess(target, inbound())).toBe(telemetry.startProcess(target, inbound()));
  });

  it('keeps a traceparent the producer wrote itself, and carries it as it did before', () => {
    const own = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    const messages = [{ ...message(), headers: { ...own } }];
    telemetry.startCreate(messages, 'order-service').end();
    expect(messages[0]!.headers).toEqual(own);
  });
});

describe('MessagingTelemetry with a tracer provider and no propagator', () => {
  it('writes the W3C traceparent itself, so the context still reaches the consumer', async () => {
    const spans = new InMemorySpanExporter();
    api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const telemetry = new MessagingTelemetry({ transportKind: 'embedded' });
    const messages = [message()];
    telemetry.startCreate(messages, 'order-service').end();
    const [create] = spans.getFinishedSpans();
    const { traceId, spanId } = create!.spanContext();
    expect(messages[0]!.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);

    const processing = telemetry.startProcess(
      telemetry.consumerTarget('payment-service', 'order.created'),
      inbound(messages[0]!.headers),
    );
    processing.done(false);
    const processed = spans.getFinishedSpans().find((span) => span.name === 'process order.created')!;
    expect(processed.links[0]!.context).toMatchObject({ traceId, spanId });
    expect(processed.attributes[MessagingAttribute.consumerGroupName]).toBe('payment-service');
  });
});

describe('MessagingTelemetry created before the SDK', () => {
  it('records spans once a tracer provider is registered, without a restart', () => {
    const telemetry = new MessagingTelemetry({ transportKind: 'embedded' });
    const before = [message()];
    telemetry.startCreate(before, 'order-service').end();
    expect(before[0]!.headers).toEqual({});
    const spans = new InMemorySpanExporter();
    api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const after = [message()];
    telemetry.startCreate(after, 'order-service').end();
    expect(spans.getFinishedSpans().map((span) => span.name)).toEqual(['create order.created']);
    expect(after[0]!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});

describe('trace context in message headers', () => {
  const spanContext: api.SpanContext = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: api.TraceFlags.SAMPLED,
    traceState: api.createTraceState('vendor=value'),
  };

  it('round-trips traceparent and tracestate without a registered propagator', () => {
    const headers: Record<string, string> = {};
    injectContext(api, api.trace.setSpanContext(api.ROOT_CONTEXT, spanContext), headers);
    expect(headers).toEqual({
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=value',
    });
    const carried = extractContext(api, headers, api.ROOT_CONTEXT)!;
    expect(carried.spanContext).toMatchObject({
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      traceFlags: 1,
      isRemote: true,
    });
    expect(carried.spanContext.traceState?.get('vendor')).toBe('value');
  });

  it.each([
    ['version ff', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ['an all-zero span id', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'],
    ['a short trace id', '00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01'],
    ['upper case', '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01'],
    ['a suffix on version 00', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra'],
    ['garbage', 'not a traceparent'],
  ])('ignores a traceparent with %s', (_what, traceparent) => {
    expect(extractContext(api, { traceparent }, api.ROOT_CONTEXT)).toBeUndefined();
  });

  it('accepts fields a later version appends', () => {
    const traceparent = '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later';
    expect(extractContext(api, { traceparent }, api.ROOT_CONTEXT)?.spanContext.spanId).toBe('b7ad6b7169203331');
  });
});

describe('HOT_PATH_METRICS', () => {
  it('names each instrument once, with a unit, a description and attributes ReliableMQ records', () => {
    const metrics = Object.values(HOT_PATH_METRICS);
    expect(new Set(metrics.map((metric) => metric.name)).size).toBe(metrics.length);
    const known = new Set<string>(Object.values(MessagingAttribute));
    for (const metric of metrics) {
      expect(metric.unit).toMatch(/^(s|\{[a-z]+\})$/);
      expect(metric.description.length).toBeGreaterThan(20);
      for (const attribute of metric.attributes) expect(known.has(attribute), attribute).toBe(true);
    }
  });
});

describe('RELIABLE_MQ_SPANS', () => {
  it('lists attributes and events ReliableMQ records', () => {
    const attributes = new Set<string>(Object.values(MessagingAttribute));
    const events = new Set<string>([...Object.values(MessagingEvent), 'exception']);
    for (const span of Object.values(RELIABLE_MQ_SPANS)) {
      for (const attribute of span.attributes) expect(attributes.has(attribute), attribute).toBe(true);
      for (const event of span.events) expect(events.has(event), event).toBe(true);
    }
  });
});
