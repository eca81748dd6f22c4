import type { BrokerEngine } from '../broker-engine';
import type { WorkerEngine } from '../worker/worker-engine';
import { InvalidArgumentError } from '../errors';
import { backlogTopicOf } from '../util/names';

/** Where a backlog move stands; what `backlog.progress` answers. */
export interface BacklogMove {
  operation: string;
  group: string;
  fromTopic: string;
  toTopic: string;
  /** The group's lag on `fromTopic` when the move started. */
  total: number;
  moved: number;
  state: 'running' | 'done' | 'failed';
  error: string | null;
  startedAt: number;
  finishedAt: number | null;
}

export interface BacklogMoveRequest {
  group: string;
  fromTopic: string;
  /** A topic to move it onto; left out, the group's own backlog topic, which its members read without a change. */
  toTopic?: string;
  /**
   * Queues of the group's own backlog topic (default: `fromTopic`'s count), or of `toTopic` when it has to be
   * created (required then).
   */
  toQueueCount?: number;
  /** Expands `fromTopic` to this many queues first, while the group is paused on it (see `RedistributeOptions`). */
  expandTo?: number;
  /** Names the move for `get()`; a move of that name still running is refused. */
  operation?: string;
}

/** Finished moves are kept this long, so a caller that polls late still sees how it ended. */
const KEEP_FINISHED_MS = 60 * 60 * 1000;
const MAX_KEPT = 1000;

/**
 * Runs `redistributeBacklog` and keeps each move's progress under a name the caller chose, for the broker's
 * `backlog.progress` call and the console's embedded source alike. Creates the target topic when asked to.
 */
export class BacklogMoves {
  private readonly moves = new Map<string, BacklogMove>();

  constructor(private readonly engine: BrokerEngine | WorkerEngine) {}

  get(operation: string): BacklogMove | undefined {
    return this.moves.get(operation);
  }

  async run(request: BacklogMoveRequest): Promise<{ moved: number; toTopic: string }> {
    const { engine } = this;
    const now = Date.now();
    this.forgetOld(now);
    if (request.operation !== undefined && this.moves.get(request.operation)?.state === 'running') {
      throw new InvalidArgumentError(`Backlog move "${request.operation}" is already running.`);
    }
    const toTopic = request.toTopic ?? backlogTopicOf(request.group);
    const move: BacklogMove = {
      operation: request.operation ?? '',
      group: request.group,
      fromTopic: request.fromTopic,
      toTopic,
      total: 0,
      moved: 0,
      state: 'running',
      error: null,
      startedAt: now,
      finishedAt: null,
    };
    // Named before the first await: a second move of the same name is refused even while this one is starting.
    if (request.operation !== undefined) this.moves.set(request.operation, move);
    try {
      if (request.toTopic !== undefined && !(await engine.getTopic(request.toTopic))) {
        if (request.toQueueCount === undefined) {
          throw new InvalidArgumentError(
            `Topic "${request.toTopic}" does not exist: give "toQueueCount" to create it with that many queues.`,
          );
        }
        await engine.createTopic(request.toTopic, { queueCount: request.toQueueCount });
      }
      const stats = await engine.stats();
      move.total = stats.groups.find((g) => g.group === request.group && g.topic === request.fromTopic)?.lag ?? 0;
      const { moved } = await engine.redistributeBacklog(request.group, request.fromTopic, {
        ...(request.toTopic !== undefined ? { toTopic: request.toTopic } : { queueCount: request.toQueueCount }),
        ...(request.expandTo !== undefined ? { expandTo: request.expandTo } : {}),
        onProgress: (count) => (move.moved = count),
      });
      move.moved = moved;
      move.state = 'done';
      return { moved, toTopic };
    } catch (error) {
      move.state = 'failed';
      move.error = (error as Error).message;
      throw error;
    } finally {
      move.finishedAt = Date.now();
    }
  }

  private forgetOld(now: number): void {
    for (const [id, move] of this.moves) {
      const old = move.finishedAt !== null && now - move.finishedAt > KEEP_FINISHED_MS;
      if (old || (this.moves.size > MAX_KEPT && move.state !== 'running')) this.moves.delete(id);
    }
  }
}
