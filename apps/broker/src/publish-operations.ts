import type { PublishMessage } from '@reliable-mq/engine';
import {
  ProtocolError,
  toWireError,
  type PublishBatchResult,
  type PublishResult,
  type WireConfirm,
} from '@reliable-mq/protocol';
import type { OperationContext } from './broker-operations';
import type { Args } from './request-args';
import { MAX_BATCH_CALLS, MAX_BATCH_ITEMS, MAX_HEADERS, MAX_NAME, MAX_TAGS, MAX_TEXT } from './wire-limits';

export function readMessage(args: Args): PublishMessage {
  const tags = args.optionalStringArray('tags', MAX_TAGS, MAX_NAME);
  const headers = args.optionalStringMap('headers', MAX_HEADERS);
  const key = args.optionalString('key', MAX_TEXT);
  const deliverAt = args.optionalNumber('deliverAt', 0);
  return {
    messageId: args.string('id', MAX_NAME),
    topic: args.string('topic', MAX_NAME),
    body: args.bytes('body'),
    ...(key !== undefined ? { key } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(headers !== undefined ? { headers } : {}),
    ...(deliverAt !== undefined ? { deliverAt } : {}),
  };
}

/**
 * `publish`: stores one batch whole or not at all and answers once it is durable. The engine is called before any
 * await, so the batches of one connection are stored in the order they arrived.
 */
export async function publish(
  { engine, warn }: Pick<OperationContext, 'engine' | 'warn'>,
  messages: PublishMessage[],
): Promise<PublishResult> {
  const results = await engine.publish(messages);
  warnOfIdsReused(messages, results, warn);
  const confirms: WireConfirm[] = results.map((result) => ({
    id: result.messageId,
    duplicate: result.duplicate,
    queueId: result.queueId,
    offset: result.queueOffset,
    ...(result.deliverAt !== undefined ? { deliverAt: result.deliverAt } : {}),
  }));
  return { confirms };
}

/**
 * `publish.batch`: several `publish` calls in one frame, each what it would be alone: stored whole or not at all, in
 * arrival order, and failed alone (its error in its place of the answer) when the engine refuses it or one of its
 * values is out of range. They usually share the engine's next commit, as calls pipelined one per frame would. A
 * value of the wrong type is a broken client, as in `publish`: the whole frame is refused and the connection closed.
 */
export async function publishCalls(
  ctx: Pick<OperationContext, 'engine' | 'warn'>,
  args: Args,
): Promise<PublishBatchResult> {
  const started = args.objects('calls', MAX_BATCH_CALLS).map((call): Promise<PublishResult> => {
    let messages: PublishMessage[];
    try {
      messages = call.objects('messages', MAX_BATCH_ITEMS).map(readMessage);
    } catch (error) {
      if (error instanceof ProtocolError && error.fatal) throw error;
      return Promise.reject(error as Error);
    }
    return publish(ctx, messages);
  });
  const settled = await Promise.allSettled(started);
  return {
    results: settled.map((outcome) =>
      outcome.status === 'fulfilled' ? outcome.value : { error: toWireError(outcome.reason) },
    ),
  };
}

/**
 * Message ids are dedup keys across every topic: a message whose id is already stored is confirmed as a duplicate and
 * not stored. A re-send (the relay after a lost confirm) carries the same topic; an id found on another topic means
 * the producer reuses ids, and its message is never delivered, so the broker says so.
 */
function warnOfIdsReused(
  messages: readonly PublishMessage[],
  results: ReadonlyArray<{ messageId: string; topic: string; duplicate: boolean }>,
  warn: (message: string, kind?: string) => void,
): void {
  let reused = 0;
  let example = '';
  results.forEach((result, index) => {
    const sentTo = messages[index]?.topic;
    if (!result.duplicate || sentTo === undefined || result.topic === sentTo) return;
    reused += 1;
    example ||= `"${result.messageId.slice(0, MAX_NAME)}" is stored on topic "${result.topic}", sent now to "${sentTo}"`;
  });
  if (reused === 0) return;
  warn(
    `${reused} of ${messages.length} published message(s) carried an id already stored on another topic (${example}); ` +
      'they were confirmed as duplicates and not stored. Message ids must be unique across all topics.',
    'ID_REUSED',
  );
}
