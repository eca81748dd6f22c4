import { FrameBatch, ServerEvent, type BatchScheduler, type WireDelivery } from '@reliable-mq/protocol';

/** Deliveries gathered into one `deliver.batch` event at most; a tick's worth is usually far fewer. */
const MAX_DELIVERIES_PER_EVENT = 256;
/** A batch is sent before its bodies pass this, so one event stays a modest frame. */
const MAX_DELIVERY_BATCH_BYTES = 1024 * 1024;
/** What a delivery adds to its body on the wire, counted from above (ids, names, fields). */
const DELIVERY_OVERHEAD_BYTES = 128;

/**
 * How deliveries leave one connection: one `deliver` event each, or, to a client whose hello said `batching`, the
 * deliveries of one tick gathered into `deliver.batch` events. Gathering never delays a delivery past its tick, and a
 * frame written after a delivery (an answer, another event) never overtakes it (see FrameBatch).
 */
export class DeliveryPush {
  private readonly batch: FrameBatch<WireDelivery>;
  /** Set once the client's hello asked for batches. */
  batching = false;

  constructor(
    scheduler: BatchScheduler,
    private readonly sendEvent: (op: string, args: unknown) => void,
  ) {
    this.batch = new FrameBatch(scheduler, {
      send: (deliveries) => {
        if (deliveries.length === 1) sendEvent(ServerEvent.DELIVER, deliveries[0]);
        else sendEvent(ServerEvent.DELIVER_BATCH, { deliveries });
      },
      maxItems: MAX_DELIVERIES_PER_EVENT,
      maxBytes: MAX_DELIVERY_BATCH_BYTES,
    });
  }

  push(delivery: WireDelivery): void {
    if (!this.batching) {
      this.sendEvent(ServerEvent.DELIVER, delivery);
      return;
    }
    this.batch.add(delivery, delivery.body.byteLength + DELIVERY_OVERHEAD_BYTES + estimateText(delivery));
  }
}

function estimateText(delivery: WireDelivery): number {
  let bytes = (delivery.id.length + delivery.topic.length + (delivery.key?.length ?? 0)) * 3;
  for (const name in delivery.headers) bytes += (name.length + (delivery.headers[name]?.length ?? 0)) * 3 + 8;
  return bytes;
}
