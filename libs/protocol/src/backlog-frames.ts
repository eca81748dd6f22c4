/** Arguments and results of the backlog calls (docs/broker-protocol.md#backlog). */

/** `backlog.expand`: raises a topic's queue count online; answered with the topic (`{ name, queueCount }`). */
export interface BacklogExpandArgs {
  topic: string;
  queueCount: number;
}

/**
 * `backlog.redistribute`: moves a clustering group's unconsumed backlog on `fromTopic` onto the group's own backlog
 * topic (`%BACKLOG%<group>`, with `toQueueCount` queues, default `fromTopic`'s count), which the group's members read
 * with their subscriptions of `fromTopic`; or, with `toTopic`, onto that topic (created with `toQueueCount` queues
 * when it does not exist), which the group must then subscribe. With `expandTo`, `fromTopic` is first expanded to that
 * many queues while the group is paused on it. Answered once done with `{ moved, toTopic }`; `operation` (chosen by
 * the caller) names it for `backlog.progress` while it runs.
 */
export interface BacklogRedistributeArgs {
  group: string;
  fromTopic: string;
  toTopic?: string;
  toQueueCount?: number;
  expandTo?: number;
  operation?: string;
}

/**
 * `backlog.progress`: where a redistribution started with `operation` stands: `operation`, `group`, `fromTopic`,
 * `toTopic`, `total` (the group's lag when it started), `moved`, `state` (`running`, `done`, `failed`), `error`,
 * `startedAt`, `finishedAt`. The engine's `BacklogMove`; the protocol has no engine import, so it is spelled here.
 */
export interface WireBacklogProgress {
  operation: string;
  group: string;
  fromTopic: string;
  toTopic: string;
  total: number;
  moved: number;
  state: 'running' | 'done' | 'failed';
  error: string | null;
  startedAt: number;
  finishedAt: number | null;
}

/** `backlog.resetPreview` and `backlog.reset`: a group's offsets on a topic to the first message stored at or after `timestamp`. */
export interface BacklogResetArgs {
  group: string;
  topic: string;
  /** Epoch ms. */
  timestamp: number;
}
