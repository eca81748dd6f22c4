import type { BrokerEngine } from '@reliable-mq/engine';
import { ClientOp, ProtocolError, ProtocolErrorCode, type WireBacklogProgress } from '@reliable-mq/engine/protocol';
import type { Operation, OperationContext } from './broker-operations';
import type { Args } from './request-args';

const MAX_NAME = 256;
const MAX_OPERATION_ID = 128;
/** Finished moves are remembered this long for `backlog.progress`, so a poller that comes late still sees the end. */
const KEEP_FINISHED_MS = 60 * 60 * 1000;
const MAX_KEPT = 1000;

/** Moves by operation id, per engine: a broker process hosts one engine, tests may host several. */
const progressByEngine = new WeakMap<BrokerEngine, Map<string, WireBacklogProgress>>();

function progressOf(engine: BrokerEngine): Map<string, WireBacklogProgress> {
  let found = progressByEngine.get(engine);
  if (!found) progressByEngine.set(engine, (found = new Map()));
  return found;
}

function forgetOld(progress: Map<string, WireBacklogProgress>, now: number): void {
  for (const [id, entry] of progress) {
    const old = entry.finishedAt !== null && now - entry.finishedAt > KEEP_FINISHED_MS;
    if (old || progress.size > MAX_KEPT) progress.delete(id);
  }
}

function requireAdmin(ctx: OperationContext, op: string): void {
  if (ctx.isAdmin()) return;
  throw new ProtocolError(
    ProtocolErrorCode.FORBIDDEN,
    `"${op}" changes queues or offsets and needs the broker's admin token: connect with BROKER_ADMIN_TOKEN ` +
      '(set it on the broker, and give it to the console or the CLI as BROKER_ADMIN_TOKEN).',
  );
}

const timestampArg = (args: Args): number => args.integer('timestamp', 0, Number.MAX_SAFE_INTEGER);

async function redistribute(ctx: OperationContext, args: Args): Promise<{ moved: number; toTopic: string }> {
  const { engine } = ctx;
  const group = args.string('group', MAX_NAME);
  const fromTopic = args.string('fromTopic', MAX_NAME);
  const toTopic = args.string('toTopic', MAX_NAME);
  const toQueueCount = args.optionalInteger('toQueueCount', 1, 1_000_000);
  const operation = args.optionalString('operation', MAX_OPERATION_ID);
  requireAdmin(ctx, ClientOp.BACKLOG_REDISTRIBUTE);
  if (!engine.getTopic(toTopic)) {
    if (toQueueCount === undefined) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_REQUEST,
        `Topic "${toTopic}" does not exist: give "toQueueCount" to create it with that many queues.`,
      );
    }
    engine.createTopic(toTopic, { queueCount: toQueueCount });
  }
  const progress = progressOf(engine);
  const now = Date.now();
  forgetOld(progress, now);
  if (operation !== undefined && progress.get(operation)?.state === 'running') {
    throw new ProtocolError(ProtocolErrorCode.BAD_REQUEST, `Operation "${operation}" is already running.`);
  }
  const total = engine.stats().groups.find((g) => g.group === group && g.topic === fromTopic)?.lag ?? 0;
  const entry: WireBacklogProgress = {
    operation: operation ?? '',
    group,
    fromTopic,
    toTopic,
    total,
    moved: 0,
    state: 'running',
    error: null,
    startedAt: now,
    finishedAt: null,
  };
  if (operation !== undefined) progress.set(operation, entry);
  try {
    const { moved } = await engine.redistributeBacklog(group, fromTopic, toTopic, {
      onProgress: (count) => {
        entry.moved = count;
      },
    });
    entry.moved = moved;
    entry.state = 'done';
    return { moved, toTopic };
  } catch (error) {
    entry.state = 'failed';
    entry.error = (error as Error).message;
    throw error;
  } finally {
    entry.finishedAt = Date.now();
  }
}

/** The backlog calls (docs/broker-protocol.md#backlog), merged into the broker's operations. */
export const BACKLOG_OPERATIONS: Readonly<Record<string, Operation>> = {
  [ClientOp.BACKLOG_REPORT]: ({ engine }) => engine.backlog(),

  [ClientOp.BACKLOG_EXPAND]: (ctx, args) => {
    const topic = args.string('topic', MAX_NAME);
    const queueCount = args.integer('queueCount', 1, 1_000_000);
    requireAdmin(ctx, ClientOp.BACKLOG_EXPAND);
    return ctx.engine.expandQueues(topic, queueCount);
  },

  [ClientOp.BACKLOG_REDISTRIBUTE]: redistribute,

  [ClientOp.BACKLOG_PROGRESS]: ({ engine }, args) => {
    const operation = args.string('operation', MAX_OPERATION_ID);
    const found = progressOf(engine).get(operation);
    if (!found) {
      throw new ProtocolError(
        ProtocolErrorCode.UNKNOWN_OPERATION,
        `No backlog operation "${operation}" on this broker (never started, or finished over an hour ago).`,
      );
    }
    return found;
  },

  [ClientOp.BACKLOG_RESET_PREVIEW]: ({ engine }, args) =>
    engine.previewOffsetReset(args.string('group', MAX_NAME), args.string('topic', MAX_NAME), timestampArg(args)),

  [ClientOp.BACKLOG_RESET]: (ctx, args) => {
    const group = args.string('group', MAX_NAME);
    const topic = args.string('topic', MAX_NAME);
    const timestamp = timestampArg(args);
    requireAdmin(ctx, ClientOp.BACKLOG_RESET);
    return ctx.engine.resetOffsets(group, topic, timestamp);
  },
};

/** Backlog calls that start work; refused while the broker drains for shutdown. */
export const BACKLOG_CALLS_REFUSED_WHILE_DRAINING = [
  ClientOp.BACKLOG_EXPAND,
  ClientOp.BACKLOG_REDISTRIBUTE,
  ClientOp.BACKLOG_RESET,
] as const;
