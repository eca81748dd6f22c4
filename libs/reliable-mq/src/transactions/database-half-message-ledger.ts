import type {
  AppliedTransition,
  ClaimedCheck,
  ClaimedChecks,
  HalfLedgerQuery,
  HalfMessage,
  HalfMessageLedger,
  HalfMessagePage,
  HalfTransition,
  NewHalfRecord,
  PruneCursor,
  PrunedChunk,
  RefusedTransition,
} from '@reliable-mq/engine';
import type { DataSource } from 'typeorm';
import { insertOutboxRows } from '../outbox/insert-outbox-rows';
import { HalfMessageStore } from './half-message-store';

/**
 * Half messages in the producer's own database (`rmq_half_message`), for brokers without them (RabbitMQ). A commit
 * changes the record and inserts the outbox row in ONE database transaction, and the relay sends it with confirms,
 * so the message is delivered exactly when the commit is recorded. Several processes may share the table: every
 * claim and change is a conditional UPDATE, so each check is counted once and each commit delivered once.
 */
export class DatabaseHalfMessageLedger implements HalfMessageLedger {
  private readonly store: HalfMessageStore;
  /**
   * Half messages this process already warned about for want of a checker. Kept in memory: another process,
   * possibly without a checker either, says so in its own log.
   */
  private readonly warned = new Set<string>();

  constructor(dataSource: DataSource) {
    this.store = new HalfMessageStore(dataSource);
  }

  async insert(record: NewHalfRecord): Promise<{ half: HalfMessage; duplicate: boolean }> {
    const existing = await this.store.getByMessageId(record.messageId);
    if (existing) return { half: existing, duplicate: true };
    try {
      await this.store.insert({
        txId: record.txId,
        messageId: record.messageId,
        producerGroup: record.producerGroup,
        topic: record.topic,
        key: record.key,
        tags: record.tags,
        headers: record.headers,
        payload: record.body.toString('utf8'),
        deliverAt: record.deliverAt,
        state: 'unresolved',
        checkCount: 0,
        nextCheckAt: record.nextCheckAt,
        sentAt: record.sentAt,
      });
    } catch (error) {
      // Another process stored the same message id in between: its record is the one (the unique key says so).
      const winner = await this.store.getByMessageId(record.messageId);
      if (winner) return { half: winner, duplicate: true };
      throw error;
    }
    return { half: (await this.store.get(record.txId))!, duplicate: false };
  }

  get(txId: string): Promise<HalfMessage | undefined> {
    return this.store.get(txId);
  }

  list(query: HalfLedgerQuery): Promise<HalfMessagePage> {
    return this.store.list(query);
  }

  transition(
    changes: readonly HalfTransition[],
    now: number,
    refused: RefusedTransition,
  ): Promise<AppliedTransition[]> {
    return this.store.inTransaction(async (runner) => {
      const applied: AppliedTransition[] = [];
      for (const change of changes) {
        const { txId, from, to, by, reason } = change;
        if (await this.store.transition(txId, from, to, by, reason, now, runner)) {
          if (to === 'committed') {
            const delivery = (await this.store.deliveryOf(txId, runner))!;
            await insertOutboxRows(runner, [delivery], delivery.producerGroup, now);
          }
          // A resolved half message is not checked again; a discarded one is not either, until an operator acts.
          this.warned.delete(txId);
          applied.push({ half: await this.store.get(txId, runner), changed: true });
          continue;
        }
        const found = await this.store.get(txId, runner);
        refused(change, found);
        applied.push({ half: found, changed: false });
      }
      return applied;
    });
  }

  async claimDue(now: number, nextCheckAt: number, limit: number, busy: ReadonlySet<string>): Promise<ClaimedChecks> {
    const due = await this.store.due(now, limit);
    const claimed: ClaimedCheck[] = [];
    for (const half of due) {
      if (busy.has(half.txId)) {
        await this.store.moveCheck(half, nextCheckAt, false);
        continue;
      }
      if (!(await this.store.moveCheck(half, nextCheckAt, true))) continue;
      claimed.push({
        half: { ...half, checkCount: half.checkCount + 1, nextCheckAt },
        warned: this.warned.has(half.txId),
      });
    }
    return { due: due.length, claimed };
  }

  nextCheckAt(): Promise<number | null> {
    return this.store.nextCheckAt();
  }

  async markWarned(txId: string): Promise<void> {
    this.warned.add(txId);
  }

  async pruneChunk(cutoff: number, limit: number): Promise<PrunedChunk> {
    const deleted = await this.store.pruneResolved(cutoff, limit);
    for (const pruned of deleted) this.warned.delete(pruned.txId);
    // Deleted rows leave the index, so every chunk starts from the oldest resolution again.
    const next: PruneCursor | null = deleted.length === limit ? { ledgerCursor: null } : null;
    return { deleted, next };
  }
}
