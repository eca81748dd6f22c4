import { RateMeter } from './rate-meter';

/** Publish rates per topic and delivery rates per group and topic, for stats and the backlog report. */
export class RateMeters {
  private readonly published = new Map<string, RateMeter>();
  private readonly delivered = new Map<string, RateMeter>();

  markPublished(topic: string, now: number): void {
    meterOf(this.published, topic).mark(now);
  }

  markDelivered(group: string, topic: string, now: number): void {
    meterOf(this.delivered, deliveryKey(group, topic)).mark(now);
  }

  publishRate(topic: string, now: number): number {
    return this.published.get(topic)?.ratePerSecond(now) ?? 0;
  }

  deliveryRate(group: string, topic: string, now: number): number {
    return this.delivered.get(deliveryKey(group, topic))?.ratePerSecond(now) ?? 0;
  }
}

const deliveryKey = (group: string, topic: string): string => `${group}\u0000${topic}`;

function meterOf(meters: Map<string, RateMeter>, id: string): RateMeter {
  let meter = meters.get(id);
  if (!meter) meters.set(id, (meter = new RateMeter()));
  return meter;
}
