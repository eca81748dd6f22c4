import type { ConsumeMode, MessageHandler } from '../engine.types';
import type { HandoutHandler } from './handout';
import type { TagFilter } from '../util/tag-filter';
import type { QueueRuntime } from './queue-runtime';

export interface ResolvedRetry {
  maxReconsumeTimes: number;
  levels: number[];
  /** True when the subscription listed its own levels: retry n then waits level n, not level 3 + n. */
  customLevels: boolean;
  orderlyRetryPauseMs: number;
}

export interface TopicSubscription {
  topic: string;
  mode: ConsumeMode;
  tagFilter: TagFilter;
  retry: ResolvedRetry;
  handler: MessageHandler | HandoutHandler;
  /** The handler is given each message's hand-out (the worker engine's members). */
  handouts: boolean;
}

/** One consumer instance in a group. */
export class MemberRuntime {
  readonly subscriptions = new Map<string, TopicSubscription>();
  /** Broadcasting only: this member's own queue states. */
  readonly ownQueues = new Map<string, QueueRuntime>();
  inflight = 0;
  lastHeartbeat: number;
  heartbeatPaused = false;
  expired = false;
  closing = false;
  closed = false;
  readonly drainWaiters: Array<() => void> = [];

  constructor(
    readonly id: string,
    public prefetch: number,
    /** In-process members heartbeat on the engine's timer; remote ones call `heartbeat()`. */
    readonly autoHeartbeat: boolean,
    now: number,
  ) {
    this.lastHeartbeat = now;
  }

  get active(): boolean {
    return !this.expired && !this.closing && !this.closed;
  }

  released(): void {
    this.inflight--;
    if (this.inflight <= 0) {
      this.inflight = 0;
      for (const waiter of this.drainWaiters.splice(0)) waiter();
    }
  }
}
