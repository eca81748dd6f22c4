import type { ChildProcess } from 'node:child_process';
import type { ConsumerLine, CountersView } from './framework-crash.protocol';

/**
 * The framework crash spec's view of its child processes: a handle on each one, and what a consumer run reported,
 * folded into a RunRecord once the run has ended.
 */

/** One child process, its JSON lines as they arrive, and its end. Stopped only through its own handle (its PID). */
export class Child<Line extends { kind: string }> {
  readonly lines: Line[] = [];
  stderr = '';
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pending = '';
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    registry: Set<Child<{ kind: string }>>,
  ) {
    registry.add(this as unknown as Child<{ kind: string }>);
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.pending += chunk;
      let end: number;
      while ((end = this.pending.indexOf('\n')) !== -1) {
        const text = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 1);
        this.lines.push(JSON.parse(text) as Line);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.closed = new Promise((resolve, reject) => {
      process.once('error', reject);
      process.once('close', (code, signal) => {
        registry.delete(this as unknown as Child<{ kind: string }>);
        for (const wake of this.waiters.splice(0)) wake();
        // A killed child may leave half a line behind: it reported nothing, since the write never completed.
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Resolves the first line of `kind`, or null when the child ends or the time runs out first. */
  async waitFor(kind: Line['kind'], limitMs: number): Promise<Line | null> {
    const stopAt = Date.now() + limitMs;
    for (;;) {
      const found = this.lines.find((line) => line.kind === kind);
      if (found) return found;
      const left = stopAt - Date.now();
      if (!this.running || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  kill(): void {
    if (this.running) this.process.kill('SIGKILL');
  }

  describe(): string {
    const errors = this.lines
      .filter((line) => line.kind === 'error' || line.kind === 'log')
      .map((line) => JSON.stringify(line))
      .slice(-20);
    return [
      `${this.name}: exit code ${this.process.exitCode}, signal ${this.process.signalCode}`,
      errors.length > 0 ? `reported:\n${errors.join('\n')}` : '',
      this.stderr ? `stderr:\n${this.stderr.slice(-4_000)}` : '',
    ]
      .filter(Boolean)
      .join('\n');
  }
}

export interface RunRecord {
  run: number;
  killed: boolean;
  bootKill: boolean;
  ready: boolean;
  /** Distinct orders whose handler started in this run. */
  invokedOrders: Set<string>;
  invocations: number;
  effectLines: number;
  /** Handlers started and not returned when the run ended. */
  inFlightAtEnd: number;
  /** Of those, handlers that had already written their effect (committed in the Redis variant). */
  effectWrittenAtEnd: number;
  /**
   * Redis variant, killed runs: orders whose effect this run committed while their dedup key was not DONE when the
   * run was dead. The claim expires and the redelivery runs the handler again, so each is one more effect.
   */
  predictedDuplicates: string[];
  /** Last counters the run reported: exact for the drain run, a lower bound for a killed run. */
  counters: CountersView | null;
  warnings: string[];
}

export function recordRun(run: number, child: Child<ConsumerLine>, killed: boolean, bootKill: boolean): RunRecord {
  const record: RunRecord = {
    run,
    killed,
    bootKill,
    ready: false,
    invokedOrders: new Set(),
    invocations: 0,
    effectLines: 0,
    inFlightAtEnd: 0,
    effectWrittenAtEnd: 0,
    predictedDuplicates: [],
    counters: null,
    warnings: [],
  };
  // +1 per start, -1 per return; 'effect' marks that the handler got past its write.
  const open = new Map<string, { running: number; effects: number }>();
  const stateOf = (orderId: string): { running: number; effects: number } => {
    let state = open.get(orderId);
    if (!state) open.set(orderId, (state = { running: 0, effects: 0 }));
    return state;
  };
  for (const line of child.lines) {
    switch (line.kind) {
      case 'ready':
        record.ready = true;
        break;
      case 'invoked':
        record.invocations++;
        record.invokedOrders.add(line.orderId);
        stateOf(line.orderId).running++;
        break;
      case 'effect':
        record.effectLines++;
        stateOf(line.orderId).effects++;
        break;
      case 'returning': {
        const state = stateOf(line.orderId);
        state.running--;
        state.effects--;
        break;
      }
      case 'counters':
      case 'drained':
        record.counters = line.counters;
        break;
      case 'log':
        record.warnings.push(`[${line.level}] ${line.context}: ${line.message}`);
        break;
      case 'error':
        record.warnings.push(`[child error] ${line.message}`);
        break;
      default:
        break;
    }
  }
  for (const state of open.values()) {
    if (state.running <= 0) continue;
    record.inFlightAtEnd += state.running;
    record.effectWrittenAtEnd += Math.max(0, state.effects);
  }
  return record;
}
