import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { TransportMessage } from '../transport/transport.interface';
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

/** What one consumer (group and topic) records under, worked out once. @internal */
export interface ConsumerMetricAttributes {
  consumed: Attributes;
  outcomes: Partial<Record<HandlerOutcome, Attributes>>;
  processed: Attributes;
}

/**
 * The instruments of HOT_PATH_METRICS on one meter. Created only when a meter provider is registered, so that without
 * an SDK no attribute object is built anywhere on the hot paths. Attribute sets that repeat (per topic, per consumer)
 * are built once and reused.
 * @internal
 */
export class HotPathMetrics {
  private readonly sent: Counter;
  private readonly consumed: Counter;
  private readonly operationDuration: Histogram;
  private readonly processDuration: Histogram;
  private readonly outcomes: Counter;
  private readonly relayRowCounter: Counter;
  private readonly commitToSendDuration: Histogram;
  private readonly checkbackCounter: Counter;
  private readonly sentByTopic = new Map<string, Attributes>();
  private readonly relayAttributes = new Map<RelayRowOutcome, Attributes>();
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
    const counter = (metric: MetricDescription): Counter =>
      meter.createCounter(metric.name, { unit: metric.unit, description: metric.description });
    const histogram = (metric: MetricDescription): Histogram =>
      meter.createHistogram(metric.name, {
        unit: metric.unit,
        description: metric.description,
        advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_S] },
      });
    this.sent = counter(M.sentMessages);
    this.consumed = counter(M.consumedMessages);
    this.operationDuration = histogram(M.operationDuration);
    this.processDuration = histogram(M.processDuration);
    this.outcomes = counter(M.handlerOutcomes);
    this.relayRowCounter = counter(M.relayRows);
    this.commitToSendDuration = histogram(M.commitToSend);
    this.checkbackCounter = counter(M.checkbacks);
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
    const attributes: Attributes = { [A.system]: this.system, [A.operationName]: operation, [A.operationType]: type };
    if (topic !== undefined) attributes[A.destinationName] = topic;
    if (errorType !== undefined) attributes[A.errorType] = errorType;
    this.operationDuration.record(seconds, attributes);
  }

  consumerAttributes(group: string, topic: string): ConsumerMetricAttributes {
    return {
      consumed: {
        [A.system]: this.system,
        [A.operationName]: 'process',
        [A.destinationName]: topic,
        [A.consumerGroupName]: group,
      },
      processed: {
        [A.system]: this.system,
        [A.operationName]: 'process',
        [A.destinationName]: topic,
        [A.consumerGroupName]: group,
      },
      outcomes: {},
    };
  }

  recordConsumed(consumer: ConsumerMetricAttributes): void {
    this.consumed.add(1, consumer.consumed);
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
    let attributes = consumer.outcomes[outcome];
    if (!attributes) {
      attributes = {
        [A.system]: this.system,
        [A.destinationName]: consumer.consumed[A.destinationName],
        [A.consumerGroupName]: consumer.consumed[A.consumerGroupName],
        [A.outcome]: outcome,
      };
      consumer.outcomes[outcome] = attributes;
    }
    this.outcomes.add(1, attributes);
  }

  recordRelayRows(outcome: RelayRowOutcome, count: number): void {
    if (count <= 0) return;
    let attributes = this.relayAttributes.get(outcome);
    if (!attributes) {
      attributes = { [A.system]: this.system, [A.outcome]: outcome };
      this.relayAttributes.set(outcome, attributes);
    }
    this.relayRowCounter.add(count, attributes);
  }

  recordCommitToSend(seconds: number): void {
    this.commitToSendDuration.record(seconds, this.systemOnly);
  }

  recordCheckback(topic: string, answer: string): void {
    this.checkbackCounter.add(1, { [A.system]: this.system, [A.destinationName]: topic, [A.halfMessageState]: answer });
  }

  private addSent(topic: string, count: number, errorType: string | undefined): void {
    if (errorType !== undefined) {
      this.sent.add(count, {
        [A.system]: this.system,
        [A.operationName]: 'send',
        [A.destinationName]: topic,
        [A.errorType]: errorType,
      });
      return;
    }
    let attributes = this.sentByTopic.get(topic);
    if (!attributes) {
      attributes = { [A.system]: this.system, [A.operationName]: 'send', [A.destinationName]: topic };
      this.sentByTopic.set(topic, attributes);
    }
    this.sent.add(count, attributes);
  }
}
