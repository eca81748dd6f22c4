import * as api from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { HotPathMetrics } from './hot-path-metrics';
import { LocalCounters } from './local-counters';
import { HOT_PATH_METRICS as M } from './metric-names';

let provider: MeterProvider | undefined;

afterEach(async () => {
  api.metrics.disable();
  await provider?.shutdown();
  provider = undefined;
});

async function prometheusText(exporter: PrometheusExporter): Promise<string> {
  const { resourceMetrics, errors } = await exporter.collect();
  expect(errors).toEqual([]);
  return new PrometheusSerializer().serialize(resourceMetrics);
}

function register(): PrometheusExporter {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  provider = new MeterProvider({ readers: [exporter] });
  api.metrics.setGlobalMeterProvider(provider);
  return exporter;
}

describe('hot-path counters counted locally', () => {
  it('reach Prometheus as the counters they were: same names with _total, summed over every recorder', async () => {
    const exporter = register();
    // The publisher, the relay and the consumer runner each hold their own metrics on the one meter.
    const relay = HotPathMetrics.create(api, 'reliablemq', '1.0.0')!;
    const direct = HotPathMetrics.create(api, 'reliablemq', '1.0.0')!;
    const message = { id: 'm', topic: 'orders', headers: {}, body: Buffer.alloc(0) };
    relay.recordSent([message, message, { ...message, topic: 'payments' }], undefined);
    direct.recordSent([message], undefined);
    direct.recordSent([message], 'BrokerRefusedError');
    relay.recordRelayRows('sent', 3);
    relay.recordRelayRows('held', 0);
    const consumer = relay.consumerAttributes('billing', 'orders');
    relay.recordConsumed(consumer);
    relay.recordProcessed(consumer, 0.002, 'done', undefined);

    const text = await prometheusText(exporter);
    expect(text).toContain('# TYPE messaging_client_sent_messages_total counter');
    const sent = text.split('\n').filter((line) => line.startsWith('messaging_client_sent_messages_total{'));
    expect(sent).toHaveLength(3);
    expect(sent.find((line) => line.includes('destination_name="orders"') && !line.includes('error_type'))).toMatch(
      / 3$/,
    );
    expect(sent.find((line) => line.includes('destination_name="payments"'))).toMatch(/ 1$/);
    expect(sent.find((line) => line.includes('error_type="BrokerRefusedError"'))).toMatch(/ 1$/);
    expect(text).toMatch(/reliablemq_relay_rows_total\{[^}]*messaging_reliablemq_outcome="sent"[^}]*\} 3/);
    // Nothing was held: no point appears for it, as a synchronous counter shows none before its first add.
    expect(text).not.toContain('outcome="held"');
    expect(text).toMatch(/messaging_client_consumed_messages_total\{[^}]*consumer_group_name="billing"[^}]*\} 1/);
    expect(text).toMatch(/reliablemq_consumer_outcomes_total\{[^}]*outcome="done"[^}]*\} 1/);
    expect(text).toContain('# TYPE messaging_process_duration histogram');

    // Cumulative across collections, as before.
    relay.recordRelayRows('sent', 2);
    expect(await prometheusText(exporter)).toMatch(
      /reliablemq_relay_rows_total\{[^}]*messaging_reliablemq_outcome="sent"[^}]*\} 5/,
    );
  });

  it('gives one cell per attribute set, whatever the order of its keys, and refuses an instrument it does not count', () => {
    register();
    const meter = api.metrics.getMeter('local-counters-spec');
    const counters = LocalCounters.of(meter, [M.relayRows]);
    expect(LocalCounters.of(meter, [M.relayRows])).toBe(counters);
    const one = counters.cell(M.relayRows, { a: 1, b: 'x' });
    expect(counters.cell(M.relayRows, { b: 'x', a: 1 })).toBe(one);
    expect(counters.cell(M.relayRows, { a: 2, b: 'x' })).not.toBe(one);
    expect(() => counters.cell(M.sentMessages, {})).toThrow(/messaging.client.sent.messages is not one of/);
  });
});
