import {
  fromWireHalfMessage,
  transactionOutcomeOf,
  type HalfMessagePage,
  type HalfResolution,
  type TransactionOutcome,
} from '@reliable-mq/engine';
import type { HalfSendConfirm, TransactionCheckHandler, TransactionalOperations } from '../transport.interface';
import type { BrokerClientConnection } from './broker-client-connection';
import { ClientOp, type CheckArgs } from '@reliable-mq/protocol';
import { toHalfPage, toWireMessage } from './wire-conversions';

export interface CheckerRegistration {
  producerGroup: string;
  checker: TransactionCheckHandler;
}

interface RemoteTransactionsDeps {
  call(op: string, args: unknown): Promise<unknown>;
  /** Shared with the transport, which registers them again on every new connection. */
  checkers: Map<number, CheckerRegistration>;
  nextCheckerId(): number;
  currentConnection(): BrokerClientConnection | null;
}

export type RemoteTransactionalOperations = TransactionalOperations & {
  /** Answers a `tx.check` request from the broker with the registered checker's outcome. */
  answerCheck(args: unknown): Promise<{ outcome: TransactionOutcome }>;
};

/** Half messages over the broker protocol; checkbacks arrive as `tx.check` calls from the broker. */
export function createRemoteTransactions(deps: RemoteTransactionsDeps): RemoteTransactionalOperations {
  return {
    sendHalf: async (message, producerGroup) => {
      const result = (await deps.call(ClientOp.TX_SEND, {
        message: toWireMessage(message),
        producerGroup,
      })) as HalfSendConfirm;
      return { txId: result.txId, id: result.id, duplicate: result.duplicate === true };
    },
    commit: async (txId) => {
      (await deps.call(ClientOp.TX_COMMIT, { txId })) as HalfResolution;
    },
    rollback: async (txId, reason) => {
      await deps.call(ClientOp.TX_ROLLBACK, { txId, ...(reason !== undefined ? { reason } : {}) });
    },
    registerChecker: async (producerGroup, checker) => {
      const id = deps.nextCheckerId();
      deps.checkers.set(id, { producerGroup, checker });
      const connection = deps.currentConnection();
      if (connection) {
        try {
          await connection.call(ClientOp.TX_CHECKER_REGISTER, { checker: id, producerGroup });
        } catch (error) {
          // A refused registration (e.g. an invalid group name) is the caller's to see; a lost connection is not:
          // the next connection registers it.
          if (!connection.isClosed) {
            deps.checkers.delete(id);
            throw error;
          }
        }
      }
      return async () => {
        if (!deps.checkers.delete(id)) return;
        const current = deps.currentConnection();
        await current?.call(ClientOp.TX_CHECKER_UNREGISTER, { checker: id }).catch(() => undefined);
      };
    },
    listUnresolved: async (query = {}) =>
      toHalfPage(await deps.call(ClientOp.TX_LIST, { ...query, state: 'unresolved' })) as HalfMessagePage,
    listDiscarded: async (query = {}) =>
      toHalfPage(await deps.call(ClientOp.TX_LIST, { ...query, state: 'discarded' })),
    commitDiscarded: async (txIds) =>
      (await deps.call(ClientOp.TX_COMMIT_DISCARDED, { txIds: [...txIds] })) as string[],
    discardDiscarded: async (txIds, reason) =>
      (await deps.call(ClientOp.TX_DISCARD_DISCARDED, { txIds: [...txIds], reason })) as string[],
    answerCheck: async (args) => {
      const { checker, half } = (args ?? {}) as Partial<CheckArgs>;
      const registration = typeof checker === 'number' ? deps.checkers.get(checker) : undefined;
      if (!registration || typeof half !== 'object' || half === null) return { outcome: 'unknown' };
      try {
        return { outcome: transactionOutcomeOf(await registration.checker(fromWireHalfMessage(half))) };
      } catch {
        return { outcome: 'unknown' };
      }
    },
  };
}
