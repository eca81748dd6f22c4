import { BacklogMoves, type BrokerEngine } from '@reliable-mq/engine';
import type { ConsoleBacklogSource } from './backlog-source.interface';

/** The embedded engine as the console's backlog source: the report and every action, with a move's progress. */
export function engineBacklogSource(engine: BrokerEngine): ConsoleBacklogSource {
  const moves = new BacklogMoves(engine);
  return {
    report: () => engine.backlog(),
    expandQueues: (topic, queueCount) => engine.expandQueues(topic, queueCount),
    redistribute: (request) => moves.run(request),
    progress: async (operation) => {
      const move = moves.get(operation);
      if (!move) throw Object.assign(new Error(`No backlog move "${operation}".`), { code: 'UNKNOWN_OPERATION' });
      return move;
    },
    previewReset: (group, topic, timestamp) => engine.previewOffsetReset(group, topic, timestamp),
    resetOffsets: (group, topic, timestamp) => engine.resetOffsets(group, topic, timestamp),
  };
}
