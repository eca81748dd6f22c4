import type { LocalTransactionOutcome } from '../producing/transactional-send';

export interface TransactionCheckerOptions {
  /** Producer group the checker answers for. Default: the module's `producerGroup`. */
  producerGroup?: string;
  /** Only half messages of this topic. Default: every topic of the group without a checker of its own. */
  topic?: string;
}

/** What a checker knows about the half message it is asked about, besides its payload. */
export interface TransactionCheckContext {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  /** Epoch ms when the half message was sent. */
  sentAt: number;
  /** This check's number, from 1. */
  checkCount: number;
}

/** The shape of a `@TransactionChecker` method (a plain, non-promise answer is accepted too). */
export type TransactionCheckMethod<TPayload = unknown> = (
  payload: TPayload,
  ctx: TransactionCheckContext,
) => Promise<LocalTransactionOutcome>;
