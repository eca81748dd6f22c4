import type {
  BrokerEngine,
  DeadLetterQuery,
  DeadLetterStatus,
  HalfMessageQuery,
  HalfMessageState,
} from '@reliable-mq/engine';
import { randomUUID } from 'node:crypto';
import { ClientOp, type ValidatePayloadResult } from '@reliable-mq/protocol';
import { SUBSCRIPTION_LIMITS } from '@reliable-mq/engine';
import { BACKLOG_CALLS_REFUSED_WHILE_DRAINING, BACKLOG_OPERATIONS } from './backlog-operations';
import type { ConnectionCheckers } from './connection-checkers';
import type { ConnectionSubscriptions } from './connection-subscriptions';
import { publish, publishCalls, readMessage } from './publish-operations';
import { Args } from './request-args';
import { MAX_BATCH_ITEMS, MAX_HEADERS, MAX_IDS, MAX_NAME, MAX_TEXT } from './wire-limits';

/** What a call may use of the connection it came on. */
export interface OperationContext {
  engine: BrokerEngine;
  subscriptions: ConnectionSubscriptions;
  checkers: ConnectionCheckers;
  /** Makes this connection the one that drives the member, closing another that still claims it. */
  claimMember(group: string, memberId: string): Promise<void>;
  releaseMember(group: string, memberId: string): void;
  /** Remembers that a group consumed a topic, so `payload.validate` knows the group. */
  subscribed(group: string, topic: string): void;
  /** Has a live, validating member of the group check a payload (see PayloadValidationRouter). */
  validatePayload(group: string, topic: string, payload: Buffer): Promise<ValidatePayloadResult>;
  /** Logs a warning about this connection's use of the broker (limited per kind, so a busy client cannot flood the log). */
  warn(message: string, kind?: string): void;
  /** Logs what an operator did through this connection (backlog actions), with the connection's client and address. */
  log(message: string): void;
  /** Whether this connection's hello carried the admin token (backlog actions need it). */
  isAdmin(): boolean;
}

export type Operation = (ctx: OperationContext, args: Args) => unknown;

/** Tags one `ack.batch` may carry; a client sends a tick's worth, at most a few prefetches. */
const MAX_ACK_TAGS = 100_000;

const DLQ_STATUSES: ReadonlyArray<DeadLetterStatus | 'any'> = ['dead', 'resent', 'discarded', 'any'];
const HALF_STATES: ReadonlyArray<HalfMessageState | 'any'> = [
  'unresolved',
  'committed',
  'rolled_back',
  'discarded',
  'any',
];

function readDeadLetterQuery(args: Args): DeadLetterQuery {
  const query: DeadLetterQuery = {
    group: args.optionalString('group', MAX_NAME),
    topic: args.optionalString('topic', MAX_NAME),
    key: args.optionalString('key', MAX_TEXT),
    messageId: args.optionalString('messageId', MAX_NAME),
    reasonContains: args.optionalString('reasonContains', MAX_TEXT),
    from: args.optionalNumber('from', 0),
    to: args.optionalNumber('to', 0),
    status: args.optionalOneOf('status', DLQ_STATUSES),
    limit: args.optionalInteger('limit', 0, 10_000),
    offset: args.optionalInteger('offset', 0, Number.MAX_SAFE_INTEGER),
  };
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)) as DeadLetterQuery;
}

function readHalfQuery(args: Args): HalfMessageQuery {
  const query: HalfMessageQuery = {
    state: args.optionalOneOf('state', HALF_STATES),
    producerGroup: args.optionalString('producerGroup', MAX_NAME),
    topic: args.optionalString('topic', MAX_NAME),
    id: args.optionalString('id', MAX_NAME),
    limit: args.optionalInteger('limit', 0, 10_000),
    offset: args.optionalInteger('offset', 0, Number.MAX_SAFE_INTEGER),
  };
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined)) as HalfMessageQuery;
}

/**
 * Every call a client may make after `hello`, by name. Each reads its arguments (a shape error is fatal), calls the
 * engine, and returns what goes into the response. Engine errors travel back as non-fatal error frames.
 */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  [ClientOp.PING]: () => ({ now: Date.now() }),

  [ClientOp.TOPIC_ENSURE]: ({ engine }, args) => {
    const topic = args.string('topic', MAX_NAME);
    const queueCount = args.optionalInteger('queueCount', 1, 1_000_000);
    return engine.getTopic(topic) ?? engine.createTopic(topic, queueCount === undefined ? {} : { queueCount });
  },

  [ClientOp.TOPIC_LIST]: ({ engine }) => engine.listTopics(),

  // Called before any await, so batches of one connection are stored in the order they arrived.
  [ClientOp.PUBLISH]: (ctx, args) => publish(ctx, args.objects('messages', MAX_BATCH_ITEMS).map(readMessage)),

  [ClientOp.PUBLISH_BATCH]: (ctx, args) => publishCalls(ctx, args),

  [ClientOp.SUBSCRIBE]: async (ctx, args) => {
    const sub = args.integer('sub', 1, Number.MAX_SAFE_INTEGER);
    const group = args.string('group', MAX_NAME);
    const memberId = args.optionalString('memberId', 128) ?? randomUUID();
    const spec = {
      group,
      topic: args.string('topic', MAX_NAME),
      tags: args.optionalString('tags', MAX_TEXT),
      mode: args.oneOf('mode', ['concurrent', 'orderly'] as const),
      prefetch: args.integer('prefetch', SUBSCRIPTION_LIMITS.prefetch.min, SUBSCRIPTION_LIMITS.prefetch.max),
      maxReconsumeTimes: args.integer(
        'maxReconsumeTimes',
        SUBSCRIPTION_LIMITS.maxReconsumeTimes.min,
        SUBSCRIPTION_LIMITS.maxReconsumeTimes.max,
      ),
      delayLevels: args.optionalString('delayLevels', MAX_TEXT),
      startFrom: args.optionalOneOf('startFrom', ['latest', 'earliest'] as const),
      memberId,
      validates: args.optionalBoolean('validates'),
    };
    await ctx.claimMember(group, memberId);
    try {
      await ctx.subscriptions.subscribe(sub, spec);
    } catch (error) {
      const drivesMember = ctx.subscriptions.members().some((m) => m.group === group && m.memberId === memberId);
      if (!drivesMember) ctx.releaseMember(group, memberId);
      throw error;
    }
    ctx.subscribed(group, spec.topic);
    return { sub, memberId };
  },

  [ClientOp.UNSUBSCRIBE]: async (ctx, args) => {
    const left = await ctx.subscriptions.unsubscribe(args.integer('sub', 1, Number.MAX_SAFE_INTEGER));
    if (left) ctx.releaseMember(left.group, left.memberId);
    return {};
  },

  [ClientOp.ACK]: ({ subscriptions }, args) => {
    subscriptions.ack(args.integer('tag', 1, Number.MAX_SAFE_INTEGER));
    return {};
  },

  [ClientOp.ACK_BATCH]: ({ subscriptions }, args) => {
    for (const tag of args.integerArray('tags', MAX_ACK_TAGS)) subscriptions.ack(tag);
    return {};
  },

  [ClientOp.NACK]: ({ subscriptions }, args) => {
    const retryDelayMs = args.optionalNumber('retryDelayMs', 0);
    subscriptions.nack(args.integer('tag', 1, Number.MAX_SAFE_INTEGER), {
      name: args.optionalString('name', MAX_NAME) ?? 'Error',
      message: args.string('message', MAX_TEXT),
      nonRetryable: args.optionalBoolean('nonRetryable'),
      ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
    });
    return {};
  },

  [ClientOp.PAYLOAD_VALIDATE]: (ctx, args) =>
    ctx.validatePayload(args.string('group', MAX_NAME), args.string('topic', MAX_NAME), args.bytes('payload')),

  [ClientOp.DLQ_LIST]: ({ engine }, args) => engine.listDeadLetters(readDeadLetterQuery(args)),

  [ClientOp.DLQ_GET]: ({ engine }, args) =>
    engine.getDeadLetter(args.integer('id', 0, Number.MAX_SAFE_INTEGER)) ?? null,

  [ClientOp.DLQ_RESEND]: ({ engine }, args) => {
    const edit = args.optionalObject('edit');
    const body = edit?.optionalBytes('body');
    const headers = edit?.optionalStringMap('headers', MAX_HEADERS);
    return engine.resendDeadLetters(args.integerArray('ids', MAX_IDS), {
      ...(body !== undefined ? { body } : {}),
      ...(headers !== undefined ? { headers } : {}),
    });
  },

  [ClientOp.DLQ_DISCARD]: ({ engine }, args) =>
    engine.discardDeadLetters(args.integerArray('ids', MAX_IDS), args.string('reason', MAX_TEXT)),

  [ClientOp.STATS]: ({ engine }) => engine.stats(),

  [ClientOp.TX_SEND]: async ({ engine }, args) => {
    const message = readMessage(args.object('message'));
    const result = await engine.sendHalf(message, { producerGroup: args.string('producerGroup', MAX_NAME) });
    return { txId: result.txId, id: result.messageId, duplicate: result.duplicate };
  },

  [ClientOp.TX_COMMIT]: ({ engine }, args) => engine.commitHalf(args.string('txId', MAX_NAME)),

  [ClientOp.TX_ROLLBACK]: ({ engine }, args) =>
    engine.rollbackHalf(args.string('txId', MAX_NAME), args.optionalString('reason', MAX_TEXT)),

  [ClientOp.TX_CHECKER_REGISTER]: ({ checkers }, args) => {
    const checker = args.integer('checker', 1, Number.MAX_SAFE_INTEGER);
    checkers.register(checker, args.string('producerGroup', MAX_NAME));
    return { checker };
  },

  [ClientOp.TX_CHECKER_UNREGISTER]: ({ checkers }, args) => ({
    removed: checkers.unregister(args.integer('checker', 1, Number.MAX_SAFE_INTEGER)),
  }),

  [ClientOp.TX_LIST]: ({ engine }, args) => engine.listHalfMessages(readHalfQuery(args)),

  [ClientOp.TX_COMMIT_DISCARDED]: ({ engine }, args) =>
    engine.commitDiscardedHalves(args.stringArray('txIds', MAX_IDS, MAX_NAME)),

  [ClientOp.TX_DISCARD_DISCARDED]: ({ engine }, args) =>
    engine.discardDiscardedHalves(args.stringArray('txIds', MAX_IDS, MAX_NAME), args.string('reason', MAX_TEXT)),

  ...BACKLOG_OPERATIONS,
};

/** Calls that start new work; refused while the server drains for shutdown. Acks, pings and answers still flow. */
export const REFUSED_WHILE_DRAINING: ReadonlySet<string> = new Set([
  ClientOp.PUBLISH,
  ClientOp.PUBLISH_BATCH,
  ClientOp.SUBSCRIBE,
  ClientOp.TX_SEND,
  ClientOp.TX_CHECKER_REGISTER,
  ClientOp.TOPIC_ENSURE,
  ...BACKLOG_CALLS_REFUSED_WHILE_DRAINING,
]);
