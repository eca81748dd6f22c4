import type { BacklogReport, OffsetResetPlan, TopicInfo } from '@reliable-mq/engine';
import {
  ClientOp,
  type BacklogRedistributeArgs,
  type HelloResult,
  type WireBacklogProgress,
} from '@reliable-mq/protocol';
import { BrokerRefusedError } from '../../errors/broker-refused.error';

/** A move of a large backlog commits chunk by chunk and may take minutes; progress is read with `progress()`. */
const REDISTRIBUTE_TIMEOUT_MS = 30 * 60 * 1000;

/**
 * The standalone broker's backlog calls: what an operator reads and does when a group falls behind. Expanding,
 * redistributing and resetting need a transport whose `token` is the broker's admin token (`BROKER_ADMIN_TOKEN`);
 * with the ordinary token the broker refuses them with `FORBIDDEN`.
 */
export interface RemoteBacklogOperations {
  /** Per group and topic: lag in messages and in time, rates, members connected, drain estimate; largest lag first. */
  report(): Promise<BacklogReport>;
  /** Raises a topic's queue count online; members rebalance onto the new queues. */
  expandQueues(topic: string, queueCount: number): Promise<TopicInfo>;
  /**
   * Moves `group`'s unconsumed backlog on `fromTopic` onto `toTopic` (created with `toQueueCount` queues when it does
   * not exist), each key in order. Resolves once done; `operation` names it for `progress()` meanwhile.
   */
  redistribute(args: BacklogRedistributeArgs): Promise<{ moved: number; toTopic: string }>;
  progress(operation: string): Promise<WireBacklogProgress>;
  /** What a reset of `group`'s offsets on `topic` to `timestamp` would skip or deliver again; changes nothing. */
  previewReset(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan>;
  resetOffsets(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan>;
}

type Call = (op: string, args: unknown, timeoutMs?: number) => Promise<unknown>;

/**
 * The backlog calls over the connection `connection()` gives. A broker that does not announce them in its hello
 * (an older one) is not asked: it would take an unknown call for a protocol error and close the connection.
 */
export function createRemoteBacklog(call: Call, hello: () => HelloResult): RemoteBacklogOperations {
  const checked: Call = async (op, args, timeoutMs) => {
    const announced = hello();
    if (announced.backlogCalls !== true) {
      throw new BrokerRefusedError(
        'UNKNOWN_OP',
        `The broker (version ${announced.version}) has no backlog calls; upgrade it to use "${op}".`,
      );
    }
    return call(op, args, timeoutMs);
  };
  return createCalls(checked);
}

function createCalls(call: Call): RemoteBacklogOperations {
  return {
    report: async () => (await call(ClientOp.BACKLOG_REPORT, {})) as BacklogReport,
    expandQueues: async (topic, queueCount) =>
      (await call(ClientOp.BACKLOG_EXPAND, { topic, queueCount })) as TopicInfo,
    redistribute: async (args) =>
      (await call(ClientOp.BACKLOG_REDISTRIBUTE, args, REDISTRIBUTE_TIMEOUT_MS)) as { moved: number; toTopic: string },
    progress: async (operation) => (await call(ClientOp.BACKLOG_PROGRESS, { operation })) as WireBacklogProgress,
    previewReset: async (group, topic, timestamp) =>
      (await call(ClientOp.BACKLOG_RESET_PREVIEW, { group, topic, timestamp })) as OffsetResetPlan,
    resetOffsets: async (group, topic, timestamp) =>
      (await call(ClientOp.BACKLOG_RESET, { group, topic, timestamp }, REDISTRIBUTE_TIMEOUT_MS)) as OffsetResetPlan,
  };
}
