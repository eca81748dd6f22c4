import { EscapingLogger } from '../logging/escaping-logger';
import { messageLogFields } from '../logging/message-log-fields';
import { InvalidArgumentError, TransactionStateError, type TransactionOutcome } from '@reliable-mq/engine';
import { ConfigurationError } from '../errors/configuration.error';
import type { TransactionalTelemetry } from '../observability/transactional-telemetry';
import { MessagingAttribute } from '../observability/messaging-attributes';
import type {
  HalfSendConfirm,
  TransactionalOperations,
  Transport,
  TransportMessage,
} from '../transport/transport.interface';
import { toTransportMessage, type MessageSerializer } from './message-serializer';
import type { OutgoingMessage } from './outgoing-message.interface';

/** What a local transaction reports: `unknown` leaves the decision to the broker's checkback. */
export type LocalTransactionOutcome = TransactionOutcome;

export interface LocalTransactionContext {
  /** Id the message will have once committed. Store it (or your business key) with the local change, so that a checker can find it. */
  messageId: string;
  /** The broker's transaction id of the half message. */
  txId: string;
}

/**
 * The local transaction run between the half message and its commit. Resolves `commit` once the local change is
 * committed, `rollback` when it is not, and `unknown` when it cannot tell; throwing counts as `unknown`. A plain
 * (non-promise) return value is accepted too.
 *
 * Typed as returning a promise on purpose: with `T | Promise<T>` TypeScript widens the literal returned by an async
 * arrow (`async () => 'commit'`) to `string` and rejects it.
 */
export type LocalTransaction = (ctx: LocalTransactionContext) => Promise<LocalTransactionOutcome>;

export interface TransactionalSendResult {
  /** What the local transaction reported (`unknown` when it threw or returned something else). */
  outcome: LocalTransactionOutcome;
  messageId: string;
  txId: string;
  /**
   * True when the broker confirmed the commit or rollback. False for `unknown`, and when the commit or rollback could
   * not be delivered to the broker: the broker's checkback then settles the message from local state.
   */
  settled: boolean;
  /** What the local transaction threw, when it threw. */
  error?: unknown;
}

export interface TransactionalSendDeps {
  transport: Transport;
  producerGroup: string;
  serializer: MessageSerializer;
  retry: { attempts: number; baseDelayMs: number; maxDelayMs: number };
  isPermanent(error: unknown): boolean;
  /** Spans and metrics of the send, the local transaction and the commit or rollback. */
  telemetry?: TransactionalTelemetry;
}

const logger = new EscapingLogger('ReliableMqTransactions');

function isOutcome(value: unknown): value is LocalTransactionOutcome {
  return value === 'commit' || value === 'rollback' || value === 'unknown';
}

async function withRetry<T>(deps: TransactionalSendDeps, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= deps.retry.attempts || deps.isPermanent(error) || error instanceof TransactionStateError)
        throw error;
      const delay = Math.min(deps.retry.maxDelayMs, deps.retry.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Half message → local transaction → commit or rollback. The half message is durable before the local transaction
 * starts, so whatever happens afterwards (a crash, a lost commit) the broker asks the producer group's checkers and
 * the message ends up delivered exactly when the local change committed.
 */
export async function sendInTransaction(
  deps: TransactionalSendDeps,
  message: OutgoingMessage,
  localTransaction: LocalTransaction,
): Promise<TransactionalSendResult> {
  if (typeof localTransaction !== 'function') {
    throw new InvalidArgumentError(
      'sendInTransaction(message, localTransaction) needs a function that runs the local transaction and returns "commit", "rollback" or "unknown".',
    );
  }
  const transactions = deps.transport.transactions;
  if (!transactions) {
    throw new ConfigurationError(
      `The "${deps.transport.kind}" transport has no transactional messages; use publish() with the outbox, or a transport that supports them.`,
    );
  }
  const [serialized] = deps.serializer.serializeAll([message]);
  const telemetry = deps.telemetry;
  if (!telemetry) return sendHalfAndSettle(deps, transactions, toTransportMessage(serialized!), localTransaction);
  // The span's context goes into the half message's headers: consumers and checkbacks link back to it.
  const scope = telemetry.startTransactionalSend(serialized!, deps.producerGroup);
  const half = toTransportMessage(serialized!);
  try {
    const result = await scope.run(() => sendHalfAndSettle(deps, transactions, half, localTransaction, telemetry));
    scope.annotate({
      [MessagingAttribute.transactionId]: result.txId,
      [MessagingAttribute.halfMessageState]: result.outcome,
    });
    // A local transaction that threw leaves the message to the checkback: its own span carries the error.
    scope.end();
    return result;
  } catch (error) {
    scope.end(error);
    throw error;
  }
}

async function sendHalfAndSettle(
  deps: TransactionalSendDeps,
  transactions: TransactionalOperations,
  half: TransportMessage,
  localTransaction: LocalTransaction,
  telemetry?: TransactionalTelemetry,
): Promise<TransactionalSendResult> {
  const send = (): Promise<HalfSendConfirm> => withRetry(deps, () => transactions.sendHalf(half, deps.producerGroup));
  // Re-sending keeps the message id, so a retry after a lost confirm stores one half message.
  const { txId, id: messageId } = await (telemetry ? telemetry.sendHalf(half, send) : send());
  const topicAttributes = {
    [MessagingAttribute.destinationName]: half.topic,
    [MessagingAttribute.transactionId]: txId,
  };

  let outcome: LocalTransactionOutcome;
  let error: unknown;
  let threw = false;
  try {
    const run = (): Promise<LocalTransactionOutcome> => localTransaction({ messageId, txId });
    const value: unknown = await (telemetry
      ? telemetry.step(`local_transaction ${half.topic}`, 'internal', topicAttributes, run)
      : run());
    if (isOutcome(value)) {
      outcome = value;
    } else {
      outcome = 'unknown';
      logger.warn(
        `The local transaction returned ${JSON.stringify(value) ?? 'undefined'}; expected "commit", "rollback" or "unknown". The broker's checkback will decide.` +
          messageLogFields({ id: messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
    }
  } catch (thrown) {
    outcome = 'unknown';
    error = thrown;
    threw = true;
    logger.warn(
      `The local transaction threw: ${(thrown as Error)?.message ?? String(thrown)}. The broker's checkback will decide.` +
        messageLogFields({ id: messageId, topic: half.topic, key: half.key, headers: half.headers }),
    );
  }

  let settled = false;
  if (outcome !== 'unknown') {
    try {
      const end = (): Promise<void> =>
        withRetry(deps, () => (outcome === 'commit' ? transactions.commit(txId) : transactions.rollback(txId)));
      await (telemetry
        ? telemetry.step(`${outcome} ${half.topic}`, 'client', topicAttributes, end, {
            name: outcome,
            type: 'settle',
            topic: half.topic,
          })
        : end());
      settled = true;
    } catch (endError) {
      // The broker resolved it the other way (a checkback answered first): the caller must hear about it.
      if (endError instanceof TransactionStateError) throw endError;
      logger.warn(
        `Could not ${outcome} the message (transaction ${txId}): ${(endError as Error)?.message ?? String(endError)}. The broker's checkback will settle it from local state.` +
          messageLogFields({ id: messageId, topic: half.topic, key: half.key, headers: half.headers }),
      );
    }
  }
  return threw ? { outcome, messageId, txId, settled, error } : { outcome, messageId, txId, settled };
}
