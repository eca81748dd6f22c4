import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { BacklogMoveProgress } from './backlog-source.interface';

/** A backlog move started from this console, as the page and `GET api/backlog/moves/{id}` show it. */
export interface BacklogMoveView {
  id: string;
  group: string;
  fromTopic: string;
  toTopic: string;
  startedBy: string;
  startedAt: number;
  finishedAt: number | null;
  state: 'running' | 'done' | 'failed';
  /** The group's lag on `fromTopic` when the move started, as the broker counted it; 0 until it says. */
  total: number;
  moved: number;
  error: string | null;
}

/** Moves kept for the page. */
const KEEP = 50;

/**
 * The backlog moves this console started. The move itself runs in the broker as one call; its progress is the
 * broker's (`progress(operation)`), read when someone asks, and the call's own answer ends it. Moves are kept in
 * memory only: the broker finishes a move whatever happens to the console, and the audit log records both ends.
 */
@Injectable()
export class BacklogMoveTracker {
  private readonly moves = new Map<string, BacklogMoveView>();
  private readonly progressOf = new Map<string, (operation: string) => Promise<BacklogMoveProgress>>();

  constructor(@Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions) {}

  start(
    id: string,
    request: { group: string; fromTopic: string; toTopic: string },
    startedBy: string,
    run: Promise<{ moved: number }>,
    progress: ((operation: string) => Promise<BacklogMoveProgress>) | undefined,
  ): BacklogMoveView {
    const move: BacklogMoveView = {
      id,
      group: request.group,
      fromTopic: request.fromTopic,
      toTopic: request.toTopic,
      startedBy,
      startedAt: this.options.now(),
      finishedAt: null,
      state: 'running',
      total: 0,
      moved: 0,
      error: null,
    };
    this.moves.set(id, move);
    if (progress) this.progressOf.set(id, progress);
    run.then(
      ({ moved }) => this.finish(move, 'done', moved, null),
      (error: unknown) => this.finish(move, 'failed', move.moved, (error as Error).message),
    );
    for (const old of [...this.moves.keys()].slice(0, Math.max(0, this.moves.size - KEEP))) {
      if (this.moves.get(old)?.state !== 'running') this.moves.delete(old);
    }
    return { ...move };
  }

  get(id: string): BacklogMoveView {
    const move = this.moves.get(id);
    if (!move) throw new NotFoundException(`There is no backlog move ${id} in this console.`);
    return move;
  }

  /** The move with the broker's latest count while it runs. */
  async refresh(id: string): Promise<BacklogMoveView> {
    const move = this.get(id);
    const progress = this.progressOf.get(id);
    if (move.state === 'running' && progress) {
      try {
        const latest = await progress(id);
        if (move.state === 'running') {
          move.moved = Math.max(move.moved, latest.moved);
          move.total = latest.total;
        }
      } catch {
        // The count stays as last read; the move's own answer ends it either way.
      }
    }
    return { ...move };
  }

  /** Newest first. */
  list(): BacklogMoveView[] {
    return [...this.moves.values()].reverse().map((move) => ({ ...move }));
  }

  private finish(move: BacklogMoveView, state: 'done' | 'failed', moved: number, error: string | null): void {
    move.state = state;
    move.moved = moved;
    move.total = Math.max(move.total, state === 'done' ? moved : move.total);
    move.error = error;
    move.finishedAt = this.options.now();
    this.progressOf.delete(move.id);
  }
}
