// The shapes of an offset reset and a backlog move, apart from the code that runs them: they are public types, and the code's
// declarations name the SQLite driver, which an application that only reads a plan must not need to type-check.

/** What moving a group's offsets on one queue to a timestamp does. */
export interface QueueResetPlan {
  queueId: number;
  /** The group's committed offset now. */
  from: number;
  /** Where it would be: the first offset stored at or after the timestamp, or the queue's end. */
  to: number;
  /** Messages in [from, to) the group has not consumed yet, which it would never get. */
  skipped: number;
  /** Messages in [to, from) still stored, which it would get again. */
  redelivered: number;
}

/**
 * A reset of a clustering group's offsets on a topic to `timestamp`, before it is done. Moving forward skips what was
 * stored before the timestamp; moving back hands out again what was stored since, as far back as retention kept it.
 */
export interface OffsetResetPlan {
  group: string;
  topic: string;
  timestamp: number;
  queues: QueueResetPlan[];
  skipped: number;
  redelivered: number;
  /** Storage time of the oldest message that would be skipped; null when none would. */
  oldestSkippedAt: number | null;
  newestSkippedAt: number | null;
  /** Storage time of the oldest message that would be delivered again; null when none would. */
  oldestRedeliveredAt: number | null;
}

/** Where `redistributeBacklog` moves a group's backlog. */
export interface RedistributeOptions {
  /**
   * A topic of the application's to move it onto, which the group must then subscribe. Left out (the default), the
   * backlog goes onto the group's own backlog topic, which its members read with their existing subscriptions.
   */
  toTopic?: string;
  /**
   * Queues of the group's own backlog topic (grown to this count when it has fewer); default `expandTo`, else the
   * source topic's count.
   */
  queueCount?: number;
  /**
   * Expands the source topic to this many queues as part of the move, while the group is paused on it: for an
   * orderly group nothing published after the expansion is handled before the backlog from before it. (An
   * expansion on its own lets a key's new messages, on its new queue, overtake its backlog on the old one.)
   */
  expandTo?: number;
  /** Told the running total after each committed chunk. */
  onProgress?: (moved: number) => void;
}
