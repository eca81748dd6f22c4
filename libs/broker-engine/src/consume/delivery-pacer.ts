import { detachedScope } from '../util/detached-scope';

/**
 * Deliveries a group may start from handler completions within one turn of the event loop before it yields. A
 * completion frees a prefetch slot; filling it at once, rather than on the next turn, lets one turn hand out
 * everything already committed instead of one prefetch's worth, because the next turn may begin with a blocking
 * commit (an fsync in `sync` mode). The bound keeps a large backlog from holding the loop.
 */
const DELIVERIES_PER_TURN = 1024;

/**
 * When a consumer group hands messages out: on the next turn after something changed (a commit, a member, a held
 * queue's pause), later on a timer, or at once in the same turn when a handler completed, within the turn's budget.
 * Pumps run detached from the async context of whatever scheduled them.
 */
export class DeliveryPacer {
  private pumpScheduled = false;
  private continueQueued = false;
  private turnBudget = DELIVERIES_PER_TURN;
  private readonly detached = detachedScope();
  private readonly timers = new Set<NodeJS.Timeout>();

  /** `deliverAll` hands out what the members can take and returns how many messages it handled. */
  constructor(private readonly deliverAll: () => number) {}

  /** A pump on the next turn. */
  schedule(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.detached(() => this.pump()));
  }

  /** A pump once `delayMs` have passed (a held queue's pause). */
  scheduleAt(delayMs: number): void {
    const timer = setTimeout(
      () =>
        this.detached(() => {
          this.timers.delete(timer);
          this.schedule();
        }),
      delayMs,
    );
    this.timers.add(timer);
  }

  private pump(): void {
    this.pumpScheduled = false;
    this.turnBudget = DELIVERIES_PER_TURN;
    this.deliverAll();
  }

  /** Refills freed prefetch slots in this turn while its budget lasts; on the next turn after that. */
  continue(): void {
    if (this.continueQueued || this.pumpScheduled) return;
    if (this.turnBudget <= 0) {
      this.schedule();
      return;
    }
    this.continueQueued = true;
    queueMicrotask(() =>
      this.detached(() => {
        this.continueQueued = false;
        this.turnBudget -= this.deliverAll();
      }),
    );
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
