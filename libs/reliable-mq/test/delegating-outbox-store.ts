import type { OutboxMessage } from '../src/outbox/outbox-message.entity';
import type { OutboxProblemCounts, OutboxProblemQuery } from '../src/outbox/outbox-problems';
import type { ClaimRequest, ClaimedRow, FailureMark, OutboxStore } from '../src/outbox/outbox-store.interface';

/**
 * An OutboxStore that hands every call to `inner`. Specs extend it to watch a real store or to break one of its rules
 * (the contract suite's broken stores), overriding only the methods concerned.
 */
export class DelegatingOutboxStore implements OutboxStore {
  constructor(protected readonly inner: OutboxStore) {}

  claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    return this.inner.claim(request);
  }
  markSent(owner: string, seqs: readonly number[], now: number): Promise<number> {
    return this.inner.markSent(owner, seqs, now);
  }
  markFailed(mark: FailureMark): Promise<number> {
    return this.inner.markFailed(mark);
  }
  release(owner: string, seqs: readonly number[]): Promise<number> {
    return this.inner.release(owner, seqs);
  }
  releaseLeases(owner: string): Promise<number> {
    return this.inner.releaseLeases(owner);
  }
  deleteSentBefore(cutoff: number, limit: number): Promise<number> {
    return this.inner.deleteSentBefore(cutoff, limit);
  }
  countPending(): Promise<number> {
    return this.inner.countPending();
  }
  oldestPendingCreatedAt(): Promise<number | null> {
    return this.inner.oldestPendingCreatedAt();
  }
  listProblems(query: OutboxProblemQuery): Promise<{ total: number; items: OutboxMessage[] }> {
    return this.inner.listProblems(query);
  }
  countProblems(stuckBefore: number): Promise<OutboxProblemCounts> {
    return this.inner.countProblems(stuckBefore);
  }
  findByIds(ids: readonly string[]): Promise<OutboxMessage[]> {
    return this.inner.findByIds(ids);
  }
  requeue(ids: readonly string[], now: number): Promise<number> {
    return this.inner.requeue(ids, now);
  }
  discard(ids: readonly string[], now: number): Promise<number> {
    return this.inner.discard(ids, now);
  }
}
