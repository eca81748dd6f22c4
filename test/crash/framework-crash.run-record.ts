import type { LineChild } from '../support/child-lines';
import type { ConsumerLine, CountersView } from './framework-crash.protocol';

/** What a consumer run of the framework crash spec reported, folded together once the run has ended. */
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

export function recordRun(run: number, child: LineChild<ConsumerLine>, killed: boolean, bootKill: boolean): RunRecord {
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
