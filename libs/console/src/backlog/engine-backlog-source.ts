import { BacklogMoves, type BrokerEngine, type WorkerEngine } from '@reliable-mq/engine';
import type { ConsoleBacklogSource } from './backlog-source.interface';

/**
 * The embedded engine (in this thread or on a worker thread) as the console's backlog source: the report and every
 * action, with a move's progress.
 */
export function engineBacklogSource(engine: BrokerEngine | WorkerEngine): ConsoleBacklogSource {
  const moves = new BacklogMoves(engine);
  return {
    report: async () => engine.backlog(),
    expandQueues: async (topic, queueCount) => engine.expandQueues(topic, queueCount),
    redistribute: (request) => moves.run(request),
    progress: async (operation) => {
      const move = moves.get(operation);
      if (!move) throw Object.assign(new Error(`No backlog move "${operation}".`), { code: 'UNKNOWN_OPERATION' });
      return move;
    },
    previewReset: async (group, topic, timestamp) => engine.previewOffsetReset(group, topic, timestamp),
    resetOffsets: (group, topic, timestamp) => engine.resetOffsets(group, topic, timestamp),
  };
}
