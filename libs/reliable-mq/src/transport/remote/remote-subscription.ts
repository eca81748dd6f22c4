import type {
  InboundHandler,
  InboundMessage,
  PayloadValidator,
  SubscriptionSpec,
  TransportSubscription,
} from '../transport.interface';
import type { BrokerClientConnection } from './broker-client-connection';
import { defaultStartFrom } from '@reliable-mq/engine';
import { ClientOp, type SubscribeArgs, type WireDelivery } from '@reliable-mq/protocol';
import { readDelivery } from './wire-conversions';

const MAX_REASON_CHARS = 8 * 1024;
const UNSUBSCRIBE_TIMEOUT_MS = 5_000;

/**
 * One subscription of the remote transport. It outlives connections: after a reconnect the transport subscribes it
 * again under the same id and member id. A handler's outcome is acked or nacked on the connection that delivered
 * the message; if that connection is gone the outcome is dropped, and the broker, which put the message back when
 * the connection died, delivers it again (consumer dedup absorbs the repeat).
 */
export class RemoteSubscription implements TransportSubscription {
  private inflight = 0;
  private drainWaiters: Array<() => void> = [];
  private closing = false;
  /** The connection on which the broker currently holds this subscription. */
  attachedTo: BrokerClientConnection | null = null;
  /** The first subscribe succeeded; from then on reconnects subscribe it again. */
  established = false;

  constructor(
    readonly id: number,
    private readonly spec: SubscriptionSpec,
    readonly memberId: string,
    private readonly handler: InboundHandler,
    private readonly detach: (subscription: RemoteSubscription) => void,
  ) {}

  get isClosing(): boolean {
    return this.closing;
  }

  /** The handler's pre-run check, when the consumer gave one; the broker may ask it through `payload.validate`. */
  get validator(): PayloadValidator | undefined {
    return this.spec.validator;
  }

  get wireArgs(): SubscribeArgs & { sub: number } {
    const { spec } = this;
    return {
      sub: this.id,
      group: spec.group,
      topic: spec.topic,
      ...(spec.tags !== undefined ? { tags: spec.tags } : {}),
      mode: spec.mode,
      prefetch: spec.prefetch,
      maxReconsumeTimes: spec.maxReconsumeTimes,
      ...(spec.delayLevels !== undefined ? { delayLevels: spec.delayLevels } : {}),
      // Sent explicitly, so that a broker whose engine has another default still starts a new group here.
      startFrom: spec.startFrom ?? defaultStartFrom(spec.groupMode),
      memberId: this.memberId,
      ...(spec.validator !== undefined ? { validates: true } : {}),
    };
  }

  /** Runs the handler for one delivery; never rejects. */
  run(connection: BrokerClientConnection, delivery: WireDelivery, message: InboundMessage): void {
    if (this.closing) return; // Not started: the broker hands it out again once the subscription is gone.
    this.inflight++;
    Promise.resolve()
      .then(() => this.handler(message))
      .then(
        () => connection.ack(delivery.tag),
        (error: unknown) => connection.notify(ClientOp.NACK, { tag: delivery.tag, ...describeFailure(error) }),
      )
      .finally(() => {
        this.inflight--;
        if (this.inflight === 0) for (const waiter of this.drainWaiters.splice(0)) waiter();
      })
      .catch(() => undefined);
  }

  async close(timeoutMs = 30_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.detach(this);
    const connection = this.attachedTo;
    this.attachedTo = null;
    if (connection && !connection.isClosed) {
      // Acks written above go first on the same connection, so the broker settles them before the member leaves.
      await connection.call(ClientOp.UNSUBSCRIBE, { sub: this.id }, UNSUBSCRIBE_TIMEOUT_MS).catch(() => undefined);
    }
  }

  /** The transport is closing: no handler starts from here on. */
  abandon(): void {
    this.closing = true;
    this.attachedTo = null;
  }
}

/**
 * Hands the deliveries of a `deliver` or `deliver.batch` event to their subscriptions; those of a subscription gone or
 * closing are not started (the broker hands them out again). Returns what is malformed, or null.
 */
export function runDeliveries(
  subscriptions: ReadonlyMap<number, RemoteSubscription>,
  connection: BrokerClientConnection,
  deliveries: unknown,
): string | null {
  if (!Array.isArray(deliveries)) return 'a delivery batch that is not shaped as the protocol says';
  for (const args of deliveries) {
    const delivery = readDelivery(args);
    if (!delivery) return 'a delivery that is not shaped as the protocol says';
    const subscription = subscriptions.get(delivery.sub);
    if (subscription && !subscription.isClosing) subscription.run(connection, delivery, delivery.message);
  }
  return null;
}

/** The handler's failure as the broker records it: the same name, message and flags the embedded engine reads. */
function describeFailure(error: unknown): {
  name: string;
  message: string;
  nonRetryable?: boolean;
  retryDelayMs?: number;
} {
  const name = error instanceof Error ? error.name.slice(0, 200) : 'Error';
  const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_REASON_CHARS);
  const flags =
    typeof error === 'object' && error !== null ? (error as { nonRetryable?: unknown; retryDelayMs?: unknown }) : {};
  const retryDelayMs =
    typeof flags.retryDelayMs === 'number' && Number.isFinite(flags.retryDelayMs) && flags.retryDelayMs >= 0
      ? flags.retryDelayMs
      : undefined;
  return {
    name,
    message,
    ...(flags.nonRetryable === true ? { nonRetryable: true } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
  };
}
