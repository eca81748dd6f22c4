import type { OutboxMessage } from './outbox-message.entity';

export interface ClaimRequest {
  /** The relay instance taking the rows; written to `lease_owner` and used to fence later updates. */
  owner: string;
  now: number;
  leaseUntil: number;
  limit: number;
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
 * The relay's statements against the outbox table, one implementation per kind of database.
 *
 * Contract:
 * - `claim` leases due pending rows to `owner` so that no other owner claims them until the lease ends, and never
 *   returns a row while an earlier row (lower seq) with the same key is unsent (pending or dead). Rows come back
 *   in seq order.
 * - `markSent` and `markFailed` change only rows still leased to `owner` (fencing): a relay whose lease ran out and
 *   was taken over changes nothing. They resolve the number of rows changed.
 * - Statements see committed data only: an outbox row is never claimed before the transaction that wrote it commits.
 */
export interface OutboxStore {
  claim(request: ClaimRequest): Promise<OutboxMessage[]>;
  markSent(owner: string, seqs: readonly number[], now: number): Promise<number>;
  markFailed(mark: FailureMark): Promise<number>;
  /** Clears the leases `owner` still holds on pending rows, so another relay can take them at once. */
  releaseLeases(owner: string): Promise<number>;
  /** Deletes up to `limit` rows sent before `cutoff`. */
  deleteSentBefore(cutoff: number, limit: number): Promise<number>;
  countPending(): Promise<number>;
}
