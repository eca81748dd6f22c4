import type { MessageRow } from '../storage/message-row';
import type { MemberRuntime, ResolvedRetry } from './member-runtime';

export interface InFlight {
  token: number;
  member: MemberRuntime;
  deadline: number;
  row: MessageRow;
  /**
   * Whether the message was handed out one at a time (orderly), and the retry policy it was handed out under: its
   * failure is judged by them even when the subscription closes while the handler runs.
   */
  serial: boolean;
  retry: ResolvedRetry;
}

/**
 * Delivery state of one queue for one offset owner (a clustering group, or one
 * broadcasting member). The committed offset is the lowest offset not yet acked;
 * everything below it is done, everything from it on is delivered again after a restart.
 */
export class QueueRuntime {
  /** Next offset to read from storage. */
  nextFetch: number;
  readonly buffer: MessageRow[] = [];
  /** Rows to hand out again (consume timeout, released by a leaving member, orderly hold), by offset. */
  readonly redeliver: MessageRow[] = [];
  readonly inflight = new Map<number, InFlight>();
  /** Offsets whose outcome (retry copy or DLQ row) is being written. */
  readonly settling = new Set<number>();
  readonly acked = new Set<number>();
  readonly deliveryCounts = new Map<number, number>();
  /** Failed attempts of the held head message (orderly and broadcasting). */
  heldFailures = 0;
  heldUntil = 0;
  owner: MemberRuntime | null = null;
  pausedBy = 0;
  /** Value last handed to storage; avoids rewriting unchanged offsets. */
  persisted: number;

  constructor(
    readonly topic: string,
    readonly queueId: number,
    /** '' for clustering groups, the member id for broadcasting. */
    readonly offsetOwner: string,
    public committed: number,
  ) {
    this.nextFetch = committed;
    this.persisted = committed;
  }

  /** Takes the next row to deliver, preferring redeliveries; undefined when storage must be read. */
  takeNext(): MessageRow | undefined {
    if (this.redeliver.length > 0) return this.redeliver.shift();
    return this.buffer.shift();
  }

  peekHead(): MessageRow | undefined {
    return this.redeliver[0] ?? this.buffer[0];
  }

  putBack(row: MessageRow, front = false): void {
    if (front) {
      this.redeliver.unshift(row);
      return;
    }
    const at = this.redeliver.findIndex((other) => other.queue_offset > row.queue_offset);
    if (at === -1) this.redeliver.push(row);
    else this.redeliver.splice(at, 0, row);
  }

  isDone(offset: number): boolean {
    return offset < this.committed || this.acked.has(offset);
  }

  /** Records completion; returns true when the committed offset moved. */
  markAcked(offset: number): boolean {
    if (this.isDone(offset)) return false;
    this.acked.add(offset);
    this.deliveryCounts.delete(offset);
    const before = this.committed;
    while (this.acked.delete(this.committed)) this.committed++;
    const index = this.redeliver.findIndex((row) => row.queue_offset === offset);
    if (index !== -1) this.redeliver.splice(index, 1);
    return this.committed !== before;
  }

  /** Storage skipped offsets (removed rows): treat them as done so the committed offset can pass. */
  skipGap(upTo: number): void {
    for (let offset = this.nextFetch; offset < upTo; offset++) this.markAcked(offset);
  }

  inflightCount(): number {
    return this.inflight.size + this.settling.size;
  }
}
