import type { OutboxMessage } from './outbox-message.entity';
import type { OutboxProblemCounts, OutboxProblemQuery } from './outbox-problems';

/** What the relay needs of a claimed row: enough to send it and to record the outcome. */
export type ClaimedRow = Pick<
  OutboxMessage,
  'seq' | 'id' | 'topic' | 'key' | 'tags' | 'headers' | 'payload' | 'attempts' | 'deliverAt'
>;

export interface ClaimRequest {
  /** The relay instance taking the rows; written to `lease_owner` and used to fence later updates. */
  owner: string;
  now: number;
  leaseUntil: number;
  /** Rows at most. */
  limit: number;
  /**
   * Payload bytes at most: rows are taken in seq order while the payloads taken before them total less than this,
   * so the first row always comes, whatever its size. Bounds the memory a claim and its publish hold.
   */
  maxBytes: number;
}

/** A failed send of rows that all had `attempts` failures before it. */
export interface FailureMark {
  owner: string;
  seqs: readonly number[];
  /** Failures recorded before this one; rows whose count moved on meanwhile are left alone. */
  previousAttempts: number;
  nextAttemptAt: number;
  dead: boolean;
  error: string;
}

/**
 * Every statement against the outbox table but the application's insert: the relay's and the operator's (the
 * console's), one implementation per kind of database, so that both follow the same rules of leases and order.
 * The suite in `@reliable-mq/nestjs/testing` (`outboxStoreContract`) checks an implementation against this contract.
 *
 * Contract:
 * - `claim` leases due pending rows to `owner` so that no other owner claims them until the lease ends. A row comes
 *   back only together with every earlier (lower seq) unsent row of its key: the rows of one key in a claim are the
 *   oldest unsent rows of that key, consecutive, and a key with an unsent row that cannot be claimed now (dead,
 *   backing off, or leased) has none of its later rows claimed. Rows come back in seq order.
 * - `markSent` and `markFailed` change only rows still leased to `owner` (fencing): a relay whose lease ran out and
 *   was taken over changes nothing. They resolve the number of rows changed.
 * - Statements see committed data only: an outbox row is never claimed before the transaction that wrote it commits.
 * - The operator's `requeue` and `discard` are fenced in the same way: they change only pending or dead rows that no
 *   relay holds a live lease on (`lease_until` unset or past `now`), and never a sent row. A requeued row is pending,
 *   due at `now`, with no failed attempt and no lease owner, so a relay still sending it under a lapsed lease has its
 *   later marks refused. Both resolve the number of rows changed.
 */
export interface OutboxStore {
  claim(request: ClaimRequest): Promise<ClaimedRow[]>;
  markSent(owner: string, seqs: readonly number[], now: number): Promise<number>;
  markFailed(mark: FailureMark): Promise<number>;
  /**
   * Gives back rows of `owner` that were claimed but not tried (an earlier row of their key failed first), without
   * counting an attempt; they become claimable at once, behind that earlier row. Resolves the number released.
   */
  release(owner: string, seqs: readonly number[]): Promise<number>;
  /** Clears the leases `owner` still holds on pending rows, so another relay can take them at once. */
  releaseLeases(owner: string): Promise<number>;
  /** Deletes up to `limit` rows sent before `cutoff`. */
  deleteSentBefore(cutoff: number, limit: number): Promise<number>;
  countPending(): Promise<number>;
  /** When (epoch ms) the oldest pending row was written; null when none is pending. */
  oldestPendingCreatedAt(): Promise<number | null>;

  /** One page of stuck or dead rows with the number of rows matching the query, in the query's order. */
  listProblems(query: OutboxProblemQuery): Promise<{ total: number; items: OutboxMessage[] }>;
  /** Pending, stuck and dead rows, in all and per topic. */
  countProblems(stuckBefore: number): Promise<OutboxProblemCounts>;
  /** The rows with these message ids, whatever their status, in seq order; unknown ids are left out. */
  findByIds(ids: readonly string[]): Promise<OutboxMessage[]>;
  /** Makes rows pending again with no failed attempt, due at `now`. */
  requeue(ids: readonly string[], now: number): Promise<number>;
  /** Deletes rows so that they are never sent. */
  discard(ids: readonly string[], now: number): Promise<number>;
}
