import { stableHash } from '@reliable-mq/engine';
import { createHash, randomInt } from 'node:crypto';

/**
 * Routing keys are slot numbers: a message with a key goes to slot `hash(key) mod SLOT_COUNT`. An orderly group
 * binds slot s to its queue `s mod queueCount`, so producers never need to know how many queues a group has, and
 * two groups of one topic may choose different counts. It bounds an orderly group's queue count to 64.
 */
export const SLOT_COUNT = 64;

/** The slot, as a routing key, of a message with this key; keyless messages are spread at random. */
export function slotOf(key: string | null | undefined): string {
  return String(key === null || key === undefined ? randomInt(SLOT_COUNT) : stableHash(key) % SLOT_COUNT);
}

/** RabbitMQ's limit on queue and exchange names, in bytes. */
const MAX_NAME_BYTES = 255;

/** Keeps a name within 255 bytes: a long one is cut and ends with a hash of the whole, so it stays unique. */
function withinLimit(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= MAX_NAME_BYTES) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
  let cut = name.slice(0, 200);
  while (Buffer.byteLength(cut, 'utf8') > 200) cut = cut.slice(0, -1);
  return `${cut}~${hash}`;
}

/**
 * Every exchange and queue name the transport uses. Parts are joined with `:`, which topic and group names cannot
 * contain, so (group "a.b", topic "c") and (group "a", topic "b.c") never share a queue.
 */
export class RabbitMqNames {
  constructor(readonly prefix: string) {}

  /** The topic's exchange (type `topic`); routing key = slot. */
  topicExchange(topic: string): string {
    return withinLimit(`${this.prefix}.topic:${topic}`);
  }

  /** Alternate exchange (fanout) and queue that keep the topic's messages no group queue took. */
  unrouted(topic: string): string {
    return withinLimit(`${this.prefix}.unrouted:${topic}`);
  }

  /**
   * Exclusive queue held while one connection hands a topic's parked messages over: only one replay of a topic runs
   * at a time across every instance. RabbitMQ deletes it with the connection that holds it.
   */
  unroutedReplayLock(topic: string): string {
    return withinLimit(`${this.prefix}.unrouted-replay:${topic}`);
  }

  /** The topic's history: a stream every publish of the topic also lands in, read by a group's first subscription. */
  history(topic: string): string {
    return withinLimit(`${this.prefix}.history:${topic}`);
  }

  /**
   * Exclusive queue held while one connection catches a group up from the topic's history: instances of the group
   * wait for it instead of delivering the history twice. RabbitMQ deletes it with the connection that holds it.
   */
  catchUpLock(group: string, topic: string): string {
    return withinLimit(`${this.prefix}.catchup-lock:${group}:${topic}`);
  }

  /**
   * Exists from before a new group's queues are declared until its catch-up from the history is complete, and
   * holds the catch-up's saved position: a crash resumes from there instead of losing the rest of the history.
   */
  catchUpPending(group: string, topic: string): string {
    return withinLimit(`${this.prefix}.catchup-pending:${group}:${topic}`);
  }

  /** A clustering group's one queue for a topic (concurrent mode). */
  groupQueue(group: string, topic: string): string {
    return withinLimit(`${this.prefix}.q:${group}:${topic}`);
  }

  /** Ordered queue `index` of `count` of an orderly group. The count is part of the name: changing it makes new queues. */
  orderlyQueue(group: string, topic: string, index: number, count: number): string {
    return withinLimit(`${this.prefix}.q:${group}:${topic}:${index}of${count}`);
  }

  /** A broadcasting member's own queue. */
  memberQueue(group: string, topic: string, memberId: string): string {
    return withinLimit(`${this.prefix}.q:${group}:${topic}:member:${memberId}`);
  }

  /** Headers exchange in front of every retry queue. */
  retryExchange(): string {
    return `${this.prefix}.retry`;
  }

  /** A group's delay queue for one delay; expired messages go back to the queue named by their routing key. */
  retryQueue(group: string, delayMs: number): string {
    return withinLimit(`${this.prefix}.retry:${group}:${delayMs}ms`);
  }

  deadLetterQueue(group: string): string {
    return withinLimit(`${this.prefix}.dlq:${group}`);
  }

  /** Resent and discarded letters of a group, kept for audit. */
  auditQueue(group: string): string {
    return withinLimit(`${this.prefix}.dlq-audit:${group}`);
  }
}
