import type { BrokerEngine, Delivery, HostedSubscribeOptions, Subscription } from '@reliable-mq/engine';
import { ProtocolError, ProtocolErrorCode, type SubscribeArgs, type WireDelivery } from '@reliable-mq/protocol';

interface ActiveSubscription {
  id: number;
  group: string;
  topic: string;
  memberId: string;
  /** The member can answer `payload.validate` for this subscription. */
  validates: boolean;
  engine: Subscription;
}

interface PendingDelivery {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** What a connection's subscriptions need from it. */
export interface DeliveryChannel {
  readonly isOpen: boolean;
  /** Sends a delivery as a `deliver` event, or in a `deliver.batch` to a client that reads them (DeliveryPush). */
  pushDelivery(delivery: WireDelivery): void;
}

/** The handler failure a client reported, shaped so the engine records the same reason as in process. */
class RemoteHandlerFailure extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * The subscriptions of one connection. Each is an engine group member that the client drives: the engine pushes a
 * delivery, it goes out as a `deliver` event, and the engine's handler promise settles when the client acks or
 * nacks it. The engine's prefetch is the client's credit: no more than `prefetch` deliveries are unacked at once.
 *
 * When the connection goes away its members leave their groups at once: what they held unacked is handed out again
 * (without counting an attempt), and their handler promises are dropped rather than failed.
 */
export class ConnectionSubscriptions {
  private readonly active = new Map<number, ActiveSubscription>();
  /** Subscribe calls still running, so a close in the meantime can wait for and undo them. */
  private readonly opening = new Map<number, Promise<unknown>>();
  private readonly pending = new Map<number, PendingDelivery>();
  private nextTag = 1;
  private closedAll = false;

  constructor(
    private readonly engine: BrokerEngine,
    private readonly channel: DeliveryChannel,
  ) {}

  get count(): number {
    return this.active.size;
  }

  get unacked(): number {
    return this.pending.size;
  }

  /** (group, memberId) pairs this connection drives. */
  members(): Array<{ group: string; memberId: string }> {
    const seen = new Map<string, { group: string; memberId: string }>();
    for (const sub of this.active.values())
      seen.set(`${sub.group}\u0000${sub.memberId}`, { group: sub.group, memberId: sub.memberId });
    return [...seen.values()];
  }

  /** This connection's subscriptions of `group` on `topic`. */
  of(group: string, topic: string): Array<{ id: number; memberId: string; validates: boolean }> {
    const found: Array<{ id: number; memberId: string; validates: boolean }> = [];
    for (const sub of this.active.values()) {
      if (sub.group === group && sub.topic === topic)
        found.push({ id: sub.id, memberId: sub.memberId, validates: sub.validates });
    }
    return found;
  }

  has(id: number): boolean {
    return this.active.has(id) || this.opening.has(id);
  }

  async subscribe(id: number, args: SubscribeArgs & { memberId: string }): Promise<void> {
    if (this.has(id)) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_REQUEST,
        `Subscription id ${id} is already in use on this connection.`,
        true,
      );
    }
    const options: HostedSubscribeOptions = {
      group: args.group,
      topic: args.topic,
      tags: args.tags,
      mode: args.mode,
      prefetch: args.prefetch,
      startFrom: args.startFrom,
      memberId: args.memberId,
      retry: { maxReconsumeTimes: args.maxReconsumeTimes, delayLevels: args.delayLevels },
      // Liveness comes from this connection's traffic, not from the engine's own timer.
      autoHeartbeat: false,
      handler: (delivery: Delivery) => this.deliver(id, delivery),
    };
    const opening = this.engine.subscribe(options);
    this.opening.set(id, opening);
    let engineSub: Subscription;
    try {
      engineSub = await opening;
    } finally {
      this.opening.delete(id);
    }
    if (this.closedAll) {
      await engineSub.close(0);
      throw new ProtocolError(ProtocolErrorCode.SHUTTING_DOWN, 'The connection closed while subscribing.');
    }
    this.active.set(id, {
      id,
      group: args.group,
      topic: args.topic,
      memberId: args.memberId,
      validates: args.validates === true,
      engine: engineSub,
    });
  }

  /**
   * Ends one subscription. Acks that came before this call have already settled their deliveries; what is still
   * unacked is handed out again once the member has no subscription left.
   */
  async unsubscribe(id: number): Promise<{ group: string; memberId: string } | undefined> {
    const sub = this.active.get(id);
    if (!sub) {
      throw new ProtocolError(ProtocolErrorCode.UNKNOWN_SUBSCRIPTION, `No subscription ${id} on this connection.`);
    }
    this.active.delete(id);
    // Let the engine's completion callbacks of acks just received run before the member leaves.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await sub.engine.close(0);
    const stillDriven = [...this.active.values()].some(
      (other) => other.group === sub.group && other.memberId === sub.memberId,
    );
    return stillDriven ? undefined : { group: sub.group, memberId: sub.memberId };
  }

  ack(tag: number): void {
    const entry = this.pending.get(tag);
    if (!entry) return; // Late ack of a delivery that was handed out again; nothing to do.
    this.pending.delete(tag);
    entry.resolve();
  }

  nack(tag: number, failure: { name: string; message: string; nonRetryable?: boolean; retryDelayMs?: number }): void {
    const entry = this.pending.get(tag);
    if (!entry) return;
    this.pending.delete(tag);
    const error = new RemoteHandlerFailure(failure.name, failure.message) as Error & {
      nonRetryable?: boolean;
      retryDelayMs?: number;
    };
    if (failure.nonRetryable) error.nonRetryable = true;
    if (failure.retryDelayMs !== undefined) error.retryDelayMs = failure.retryDelayMs;
    entry.reject(error);
  }

  /** Keeps the connection's members in their groups; called as traffic arrives. */
  heartbeat(): void {
    for (const { group, memberId } of this.members()) {
      try {
        this.engine.heartbeat(group, memberId);
      } catch {
        // The engine is closing; the connection follows.
      }
    }
  }

  /**
   * Ends every subscription, waiting up to `drainMs` for the client to ack what it holds (graceful shutdown), or
   * not at all (the connection is gone).
   */
  async closeAll(drainMs: number): Promise<void> {
    this.closedAll = true;
    await Promise.allSettled([...this.opening.values()]);
    const subs = [...this.active.values()];
    this.active.clear();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await Promise.allSettled(subs.map((sub) => sub.engine.close(drainMs)));
    // The members have left: the engine ignores any late outcome, so the promises are dropped, never failed.
    this.pending.clear();
  }

  private deliver(subId: number, delivery: Delivery): Promise<void> {
    if (!this.channel.isOpen || this.closedAll) {
      // Never settles: the member is leaving and the engine hands the message out again.
      return new Promise<void>(() => undefined);
    }
    const tag = this.nextTag++;
    const wire: WireDelivery = {
      sub: subId,
      tag,
      id: delivery.originalMessageId,
      topic: delivery.topic,
      key: delivery.key,
      tags: delivery.tags,
      headers: delivery.headers,
      body: delivery.body,
      attempt: Math.max(delivery.reconsumeTimes, delivery.deliveryCount - 1),
      bornAt: delivery.bornAt,
    };
    return new Promise<void>((resolve, reject) => {
      this.pending.set(tag, { resolve, reject });
      this.channel.pushDelivery(wire);
    });
  }
}
