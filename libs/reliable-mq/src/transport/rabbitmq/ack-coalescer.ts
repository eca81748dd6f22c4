import type { Channel, ConsumeMessage } from 'amqplib';

/** Entries kept behind a held delivery before those already acked on their own are dropped. */
const COMPACT_AT = 4096;

/** A delivery of the channel not yet acked or nacked on the wire; `acked`: its handler is done, the ack not sent yet. */
interface Outstanding {
  message: ConsumeMessage;
  acked: boolean;
  sent: boolean;
}

/**
 * The acks of one consuming channel, sent once per turn of the event loop instead of one frame per message. A quorum
 * queue writes every settle to its log, so one `basic.ack` with `multiple` for many deliveries costs RabbitMQ and the
 * socket much less than one each.
 *
 * - A message is acked only once `ack` was called for it (its handler resolved, or its retry or DLQ copy was
 *   confirmed): `multiple` covers the oldest deliveries of the channel up to the newest one whose predecessors are
 *   all settled. A message acked while an older one is still held is acked on its own, so a slow handler never holds
 *   back the acks of others, and never gets acked by them.
 * - A nack goes out at once (the message goes back to its queue now), before any later ack that could cover it.
 * - `flush()` sends what is due at once; call it before closing the channel, so that nothing handled comes back.
 * - A channel that closed meanwhile drops the acks: RabbitMQ redelivers those messages and dedup absorbs them.
 *
 * Every delivery of the channel must be registered with `delivered`, in the order RabbitMQ delivered them (in the
 * consume callback, before anything awaits): delivery tags grow per channel, and `multiple` acks every unacked tag up
 * to the one it names.
 */
export class AckCoalescer {
  /** Deliveries of the channel in delivery order, from the oldest not yet settled on the wire. */
  private readonly outstanding: Outstanding[] = [];
  private head = 0;
  private readonly byMessage = new Map<ConsumeMessage, Outstanding>();
  /** Deliveries acked or nacked on the wire: settling one again would close the channel (unknown delivery tag). */
  private readonly settled = new WeakSet<ConsumeMessage>();
  /** Acked since the last flush. */
  private due: Outstanding[] = [];
  private scheduled = false;
  private readonly flushSoon = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly channel: Channel) {}

  delivered(message: ConsumeMessage): void {
    const entry: Outstanding = { message, acked: false, sent: false };
    this.outstanding.push(entry);
    this.byMessage.set(message, entry);
  }

  /** The message is settled: acked with the next flush, at the latest at the end of this turn of the event loop. */
  ack(message: ConsumeMessage): void {
    const entry = this.byMessage.get(message);
    if (!entry) {
      if (this.settled.has(message)) return;
      // Not delivered through this coalescer: ack it on its own.
      this.settled.add(message);
      sendQuietly(() => this.channel.ack(message));
      return;
    }
    if (entry.acked || entry.sent) return;
    entry.acked = true;
    this.due.push(entry);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  /** Hands the message back to its queue now. */
  nack(message: ConsumeMessage): void {
    const entry = this.byMessage.get(message);
    if (entry) {
      if (entry.acked || entry.sent) return;
      entry.sent = true;
      this.byMessage.delete(message);
    } else if (this.settled.has(message)) return;
    this.settled.add(message);
    sendQuietly(() => this.channel.nack(message, false, true));
  }

  /** Sends the acks that are due: one `multiple` ack for the settled oldest deliveries, single acks for the rest. */
  flush(): void {
    if (this.due.length === 0) return;
    let upTo: ConsumeMessage | null = null;
    while (this.head < this.outstanding.length) {
      const entry = this.outstanding[this.head]!;
      if (!entry.acked && !entry.sent) break;
      if (entry.acked && !entry.sent) upTo = entry.message;
      entry.sent = true;
      this.byMessage.delete(entry.message);
      this.settled.add(entry.message);
      this.head++;
    }
    if (this.head > 1024 || this.head === this.outstanding.length) {
      this.outstanding.splice(0, this.head);
      this.head = 0;
    }
    if (upTo !== null) {
      const last = upTo;
      sendQuietly(() => this.channel.ack(last, true));
    }
    const due = this.due;
    this.due = [];
    for (const entry of due) {
      if (entry.sent) continue;
      // An older delivery is still held: this one is acked on its own, and skipped when the prefix reaches it.
      entry.sent = true;
      this.byMessage.delete(entry.message);
      this.settled.add(entry.message);
      sendQuietly(() => this.channel.ack(entry.message));
    }
    // A delivery held for long (an orderly retry in place) keeps the ones acked after it here: drop those.
    if (this.outstanding.length - this.head > COMPACT_AT) {
      const held = this.outstanding.slice(this.head).filter((entry) => !entry.sent);
      this.outstanding.length = 0;
      this.outstanding.push(...held);
      this.head = 0;
    }
  }
}

/** The channel closed meanwhile: the message is redelivered and dedup absorbs it. */
function sendQuietly(send: () => void): void {
  try {
    send();
  } catch {
    // Channel closed: RabbitMQ requeues what was not acked.
  }
}
