import { BacklogMoves, type BrokerEngine } from '@reliable-mq/engine';
import { ClientOp, ProtocolError, ProtocolErrorCode } from '@reliable-mq/protocol';
import type { Operation, OperationContext } from './broker-operations';
import type { Args } from './request-args';

const MAX_NAME = 256;
const MAX_OPERATION_ID = 128;

/** Moves by operation id, per engine: a broker process hosts one engine, tests may host several. */
const movesByEngine = new WeakMap<BrokerEngine, BacklogMoves>();

function movesOf(engine: BrokerEngine): BacklogMoves {
  let found = movesByEngine.get(engine);
  if (!found) movesByEngine.set(engine, (found = new BacklogMoves(engine)));
  return found;
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

/** The backlog calls (docs/broker-protocol.md#backlog), merged into the broker's operations. */
export const BACKLOG_OPERATIONS: Readonly<Record<string, Operation>> = {
  [ClientOp.BACKLOG_REPORT]: ({ engine }) => engine.backlog(),

  [ClientOp.BACKLOG_EXPAND]: (ctx, args) => {
    const topic = args.string('topic', MAX_NAME);
    const queueCount = args.integer('queueCount', 1, 1_000_000);
    requireAdmin(ctx, ClientOp.BACKLOG_EXPAND);
    const info = ctx.engine.expandQueues(topic, queueCount);
    ctx.log(`backlog.expand: topic ${topic} now has ${info.queueCount} queues.`);
    return info;
  },

  [ClientOp.BACKLOG_REDISTRIBUTE]: async (ctx, args) => {
    const request = {
      group: args.string('group', MAX_NAME),
      fromTopic: args.string('fromTopic', MAX_NAME),
      toTopic: args.optionalString('toTopic', MAX_NAME),
      toQueueCount: args.optionalInteger('toQueueCount', 1, 1_000_000),
      expandTo: args.optionalInteger('expandTo', 1, 1_000_000),
      operation: args.optionalString('operation', MAX_OPERATION_ID),
    };
    requireAdmin(ctx, ClientOp.BACKLOG_REDISTRIBUTE);
    ctx.log(
      `backlog.redistribute: moving group ${request.group}'s backlog from ${request.fromTopic} to ${request.toTopic ?? "the group's backlog topic"}.`,
    );
    const done = await movesOf(ctx.engine).run(request);
    ctx.log(`backlog.redistribute: moved ${done.moved} message(s) of group ${request.group} onto ${done.toTopic}.`);
    return done;
  },

  [ClientOp.BACKLOG_PROGRESS]: ({ engine }, args) => {
    const operation = args.string('operation', MAX_OPERATION_ID);
    const found = movesOf(engine).get(operation);
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

  [ClientOp.BACKLOG_RESET]: async (ctx, args) => {
    const group = args.string('group', MAX_NAME);
    const topic = args.string('topic', MAX_NAME);
    const timestamp = timestampArg(args);
    requireAdmin(ctx, ClientOp.BACKLOG_RESET);
    const plan = await ctx.engine.resetOffsets(group, topic, timestamp);
    ctx.log(
      `backlog.reset: group ${group} on ${topic} to ${new Date(timestamp).toISOString()}: ` +
        `${plan.skipped} skipped, ${plan.redelivered} to be delivered again.`,
    );
    return plan;
  },
};

/** Backlog calls that start work; refused while the broker drains for shutdown. */
export const BACKLOG_CALLS_REFUSED_WHILE_DRAINING = [
  ClientOp.BACKLOG_EXPAND,
  ClientOp.BACKLOG_REDISTRIBUTE,
  ClientOp.BACKLOG_RESET,
] as const;
