import type { Attributes, Histogram, Meter } from '@opentelemetry/api';
import type { TransportMessage } from '../transport/transport.interface';
import { LocalCounters, type CounterCell } from './local-counters';
import { MessagingAttribute as A } from './messaging-attributes';
import {
  DURATION_BUCKETS_S,
  HOT_PATH_METRICS as M,
  RELIABLE_MQ_METER,
  type HandlerOutcome,
  type MetricDescription,
  type RelayRowOutcome,
} from './metric-names';
import type { OpenTelemetryApiModule } from './opentelemetry-api';

/** The counters of HOT_PATH_METRICS, counted locally (see LocalCounters). */
const COUNTED: readonly MetricDescription[] = [
  M.sentMessages,
  M.consumedMessages,
  M.handlerOutcomes,
  M.relayRows,
  M.checkbacks,
];

/** What one consumer (group and topic) records under, worked out once. @internal */
export interface ConsumerMetricAttributes {
  consumed: CounterCell;
  outcomes: Partial<Record<HandlerOutcome, CounterCell>>;
  processed: Attributes;
}

/**
 * The instruments of HOT_PATH_METRICS on one meter. Created only when a meter provider is registered, so that without
 * an SDK no attribute object is built anywhere on the hot paths. Counters add to plain numbers read at collection
 * time (LocalCounters); histograms record through the SDK, as the metrics API has no asynchronous histogram. Attribute
 * sets that repeat (per topic, per consumer, per operation) are built once and reused.
 * @internal
 */
export class HotPathMetrics {
  private readonly counters: LocalCounters;
  private readonly operationDuration: Histogram;
  private readonly processDuration: Histogram;
  private readonly commitToSendDuration: Histogram;
  private readonly sentByTopic = new Map<string, CounterCell>();
  private readonly relayCells = new Map<RelayRowOutcome, CounterCell>();
  private readonly operationAttributes = new Map<string, Attributes>();
  private readonly systemOnly: Attributes;

  /** Undefined when no meter provider is registered (the API then hands out a no-op meter). */
  static create(api: OpenTelemetryApiModule, system: string, version: string | undefined): HotPathMetrics | undefined {
    const meter = api.metrics.getMeter(RELIABLE_MQ_METER, version);
    if (meter === api.createNoopMeter()) return undefined;
    return new HotPathMetrics(meter, system);
  }

  private constructor(
    meter: Meter,
    private readonly system: string,
  ) {
    const histogram = (metric: MetricDescription): Histogram =>
      meter.createHistogram(metric.name, {
        unit: metric.unit,
        description: metric.description,
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
      });
    this.counters = LocalCounters.of(meter, COUNTED);
    this.operationDuration = histogram(M.operationDuration);
    this.processDuration = histogram(M.processDuration);
    this.commitToSendDuration = histogram(M.commitToSend);
    this.systemOnly = { [A.system]: system };
  }

  /** Messages of one publish to the broker, per topic; `errorType` when the publish failed. */
  recordSent(batch: readonly TransportMessage[], errorType: string | undefined): void {
    let topic = batch[0]?.topic;
    let count = 0;
    for (const message of batch) {
      if (message.topic !== topic) {
        this.addSent(topic!, count, errorType);
        topic = message.topic;
        count = 0;
      }
      count += 1;
    }
    if (topic !== undefined && count > 0) this.addSent(topic, count, errorType);
  }

  recordOperation(
    operation: string,
    type: string,
    seconds: number,
    topic: string | undefined,
    errorType: string | undefined,
  ): void {
    if (errorType !== undefined) {
      this.operationDuration.record(seconds, {
        ...this.operationAttributesOf(operation, type, topic),
        [A.errorType]: errorType,
      });
      return;
    }
    this.operationDuration.record(seconds, this.operationAttributesOf(operation, type, topic));
  }

  consumerAttributes(group: string, topic: string): ConsumerMetricAttributes {
    const attributes = {
      [A.system]: this.system,
      [A.operationName]: 'process',
      [A.destinationName]: topic,
      [A.consumerGroupName]: group,
    };
    return {
      consumed: this.counters.cell(M.consumedMessages, attributes),
      processed: { ...attributes },
      outcomes: {},
    };
  }

  recordConsumed(consumer: ConsumerMetricAttributes): void {
    consumer.consumed.value += 1;
  }

  recordProcessed(
    consumer: ConsumerMetricAttributes,
    seconds: number,
    outcome: HandlerOutcome,
    errorType: string | undefined,
  ): void {
    this.processDuration.record(
      seconds,
      errorType === undefined ? consumer.processed : { ...consumer.processed, [A.errorType]: errorType },
    );
    let cell = consumer.outcomes[outcome];
    if (!cell) {
      cell = this.counters.cell(M.handlerOutcomes, {
        [A.system]: this.system,
        [A.destinationName]: consumer.processed[A.destinationName],
        [A.consumerGroupName]: consumer.processed[A.consumerGroupName],
        [A.outcome]: outcome,
      });
      consumer.outcomes[outcome] = cell;
    }
    cell.value += 1;
  }

  recordRelayRows(outcome: RelayRowOutcome, count: number): void {
    if (count <= 0) return;
    let cell = this.relayCells.get(outcome);
    if (!cell) {
      cell = this.counters.cell(M.relayRows, { [A.system]: this.system, [A.outcome]: outcome });
      this.relayCells.set(outcome, cell);
    }
    cell.value += count;
  }

  recordCommitToSend(seconds: number): void {
    this.commitToSendDuration.record(seconds, this.systemOnly);
  }

  recordCheckback(topic: string, answer: string): void {
    const attributes = { [A.system]: this.system, [A.destinationName]: topic, [A.halfMessageState]: answer };
    this.counters.cell(M.checkbacks, attributes).value += 1;
  }

  private operationAttributesOf(operation: string, type: string, topic: string | undefined): Attributes {
    const key = `${operation}\u0000${type}\u0000${topic ?? ''}`;
    let attributes = this.operationAttributes.get(key);
    if (!attributes) {
      attributes = { [A.system]: this.system, [A.operationName]: operation, [A.operationType]: type };
      if (topic !== undefined) attributes[A.destinationName] = topic;
      this.operationAttributes.set(key, attributes);
    }
    return attributes;
  }

  private addSent(topic: string, count: number, errorType: string | undefined): void {
    if (errorType !== undefined) {
      const attributes = {
        [A.system]: this.system,
        [A.operationName]: 'send',
        [A.destinationName]: topic,
        [A.errorType]: errorType,
      };
      this.counters.cell(M.sentMessages, attributes).value += count;
      return;
    }
    let cell = this.sentByTopic.get(topic);
    if (!cell) {
      cell = this.counters.cell(M.sentMessages, {
        [A.system]: this.system,
        [A.operationName]: 'send',
        [A.destinationName]: topic,
      });
      this.sentByTopic.set(topic, cell);
    }
    cell.value += count;
  }
}
