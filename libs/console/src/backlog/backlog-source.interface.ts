import type { BacklogEntry, BacklogReport, DrainEstimate, OffsetResetPlan, TopicInfo } from '@reliable-mq/engine';

/**
 * Figures a broker may not know: RabbitMQ tells the ready count and consumers of a queue, and the age and consume rate
 * only as far as the reporting instance's own consumers see them.
 */
type MaybeKnown = 'lagMs' | 'consumeRatePerSec' | 'publishRatePerSec' | 'members' | 'queueCount' | 'inFlight';

/** How sure a figure is, where a broker sees only part of the group (RabbitMQ). Absent: the figure is exact. */
export interface BacklogFigureCertainty {
  /** Other consumers may hold older messages: the lag in time is `lagMs` or more. */
  ageIsLowerBound?: boolean;
  /** Why `lagMs` is null although messages wait. */
  ageUnknownReason?: string | null;
  /** The rate is what the reporting instance consumed; the group may consume more. */
  consumeRateIsLowerBound?: boolean;
}

/**
 * One group's backlog on one topic as a source reports it: the engine's `BacklogEntry`, where what the broker cannot
 * tell is null (the page shows "not known on this broker") rather than a made-up zero.
 */
export type ConsoleBacklogEntry = Omit<BacklogEntry, MaybeKnown | 'drain'> & {
  [K in MaybeKnown]: number | null;
} & { drain: DrainEstimate | null } & BacklogFigureCertainty;

export interface ConsoleBacklogReport {
  at: number;
  entries: ConsoleBacklogEntry[];
}

/** Where a backlog move started by the console stands, as the broker reports it. */
export interface BacklogMoveProgress {
  moved: number;
  /** The group's lag on the source topic when the move started. */
  total: number;
  state: 'running' | 'done' | 'failed';
  error: string | null;
}

/**
 * The backlog side of a broker, for the console's Backlog page: a report always, and the actions the broker can do
 * safely. The embedded engine (`engineBacklogSource(engine)`) and the standalone broker (`remoteTransport.backlog`,
 * with the admin token) offer all of them; RabbitMQ (`rabbitMqBacklogSource`) reports only, since it can neither
 * add queues to a group nor move its offsets.
 */
export interface ConsoleBacklogSource {
  /** Per group and topic: lag in messages and time, rates, members, drain estimate. */
  report(): Promise<BacklogReport | ConsoleBacklogReport> | BacklogReport | ConsoleBacklogReport;
  expandQueues?(topic: string, queueCount: number): Promise<TopicInfo> | TopicInfo;
  /**
   * Moves `group`'s unconsumed backlog on `fromTopic` onto `toQueueCount` queues of the group's own, which its
   * consumers of `fromTopic` read as they are; or onto `toTopic` (created with `toQueueCount` queues when missing).
   * `operation` names the move for `progress`.
   */
  redistribute?(args: {
    group: string;
    fromTopic: string;
    toTopic?: string;
    toQueueCount?: number;
    expandTo?: number;
    operation: string;
  }): Promise<{ moved: number; toTopic: string }>;
  progress?(operation: string): Promise<BacklogMoveProgress>;
  previewReset?(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan> | OffsetResetPlan;
  resetOffsets?(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan>;
  /**
   * What the page says about this broker's backlog: for RabbitMQ, what applies there (ordered queues, competing
   * consumers) instead of the actions it cannot do.
   */
  notes?: string[];
  /** Why this broker offers no backlog action; the API's refusal of an action says it. */
  noActionsReason?: string;
}
