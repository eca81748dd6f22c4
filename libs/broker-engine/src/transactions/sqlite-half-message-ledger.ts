import type { Database } from 'better-sqlite3';
import type { HalfMessage, HalfMessagePage, PublishResult } from '../engine.types';
import { InvalidArgumentError } from '../errors';
import { encodeHeaders, encodeTags, newMessageOf, type NewMessage } from '../storage/message-row';
import type {
  AppliedTransition,
  ClaimedCheck,
  ClaimedChecks,
  HalfLedgerQuery,
  HalfMessageLedger,
  HalfTransition,
  NewHalfRecord,
  PruneCursor,
  PrunedChunk,
  RefusedTransition,
} from './half-message-ledger';
import { HalfMessagePruner } from './half-message-pruner';
import { HalfMessageStore, toHalfMessage, type HalfMessageRow } from './half-message-store';

/** What the engine lends its ledger: its database, its commit queue, and publish's own write. */
export interface SqliteLedgerHost {
  db: Database;
  now(): number;
  /** Runs `apply` in the next group commit; resolves after that commit is durable. */
  submit<T>(apply: () => T, publish: boolean): Promise<T>;
  /** Stores a message for delivery inside the running commit, exactly as `publish` does. */
  storeForDelivery(message: NewMessage, deliverAt: number | null, now: number): PublishResult;
  /** True when a published (visible or delayed) message holds this id. */
  isPublished(messageId: string): boolean;
  onWarning(message: string): void;
  /** True once the engine is closing: a retention pass ends after its current chunk. */
  stopped(): boolean;
}

/**
 * The engine's half messages, in its SQLite database. Every write runs inside the engine's group commit; the
 * engine is single-threaded and its database synchronous, so a producer's commit and a checkback answer are applied
 * one after the other, and the second finds the state already changed.
 */
export class SqliteHalfMessageLedger implements HalfMessageLedger {
  readonly store: HalfMessageStore;
  readonly pruner: HalfMessagePruner;

  constructor(
    private readonly host: SqliteLedgerHost,
    retention: { retentionMs: number | null; chunkSize: number },
  ) {
    this.store = new HalfMessageStore(host.db);
    this.pruner = new HalfMessagePruner(
      this.store,
      {
        submit: (apply) => host.submit(apply, false),
        now: () => host.now(),
        onWarning: (message) => host.onWarning(message),
        stopped: () => host.stopped(),
      },
      retention,
    );
  }

  insert(record: NewHalfRecord): Promise<{ half: HalfMessage; duplicate: boolean }> {
    return this.host.submit(() => {
      const existing = this.store.getByMessageId(record.messageId);
      if (existing) return { half: toHalfMessage(existing), duplicate: true };
      if (this.host.isPublished(record.messageId)) {
        throw new InvalidArgumentError(
          `Message id ${record.messageId} already belongs to a published message; a half message needs an id of its own. Nothing was stored.`,
        );
      }
      this.store.insert({
        ...record,
        tags: encodeTags(record.tags),
        headers: encodeHeaders(record.headers),
      });
      return { half: toHalfMessage(this.store.get(record.txId)!), duplicate: false };
    }, true);
  }

  async get(txId: string): Promise<HalfMessage | undefined> {
    const row = this.store.get(txId);
    return row && toHalfMessage(row);
  }

  async list(query: HalfLedgerQuery): Promise<HalfMessagePage> {
    return this.store.query(query);
  }

  transition(
    changes: readonly HalfTransition[],
    now: number,
    refused: RefusedTransition,
  ): Promise<AppliedTransition[]> {
    return this.host.submit(
      () =>
        changes.map((change): AppliedTransition => {
          if (this.store.transition(change.txId, change.from, change.to, change.by, change.reason, now)) {
            const row = this.store.get(change.txId)!;
            if (change.to === 'committed') this.deliver(row, now);
            return { half: toHalfMessage(row), changed: true };
          }
          const row = this.store.get(change.txId);
          const found = row && toHalfMessage(row);
          refused(change, found);
          return { half: found, changed: false };
        }),
      false,
    );
  }

  /** Publishes the committed message now: it is enqueued at commit time, and its TTL counts from there. */
  private deliver(row: HalfMessageRow, now: number): void {
    this.host.storeForDelivery(
      newMessageOf(row, now, row.ttl_ms === null ? null : now + row.ttl_ms),
      row.deliver_at !== null && row.deliver_at > now ? row.deliver_at : null,
      now,
    );
  }

  claimDue(now: number, nextCheckAt: number, limit: number, busy: ReadonlySet<string>): Promise<ClaimedChecks> {
    return this.host.submit(() => {
      const rows = this.store.due(now, limit);
      const claimed: ClaimedCheck[] = [];
      for (const row of rows) {
        if (busy.has(row.tx_id)) {
          this.store.postpone(row.tx_id, nextCheckAt);
          continue;
        }
        this.store.claim(row.tx_id, nextCheckAt);
        claimed.push({
          half: toHalfMessage({ ...row, check_count: row.check_count + 1, next_check_at: nextCheckAt }),
          warned: row.warned === 1,
        });
      }
      return { due: rows.length, claimed };
    }, false);
  }

  async nextCheckAt(): Promise<number | null> {
    return this.store.nextCheckAt();
  }

  async markWarned(txId: string): Promise<void> {
    await this.host.submit(() => this.store.markWarned(txId), false);
  }

  pruneChunk(cutoff: number, limit: number, cursor: PruneCursor | null): Promise<PrunedChunk> {
    return this.pruner.pruneChunk(cutoff, limit, cursor);
  }
}
