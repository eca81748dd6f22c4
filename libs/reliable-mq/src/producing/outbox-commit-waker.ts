import type {
  DataSource,
  EntitySubscriberInterface,
  QueryRunner,
  TransactionCommitEvent,
  TransactionRollbackEvent,
} from 'typeorm';

/**
 * Calls `onCommit` after a transaction that wrote outbox rows has committed, and never before.
 *
 * TypeORM offers no commit hook on an EntityManager, but every QueryRunner broadcasts its commits to the
 * DataSource's subscribers. The publisher marks the QueryRunner that inserted rows; this subscriber fires when
 * that runner's outermost transaction commits. Releasing a savepoint also broadcasts a commit, so the runner's
 * `isTransactionActive` tells the real commit apart. The marks are weak, so runners that are dropped without a
 * commit or rollback leak nothing.
 */
export class OutboxCommitWaker implements EntitySubscriberInterface {
  private readonly pending = new WeakSet<QueryRunner>();
  private readonly attachedTo = new Set<DataSource>();

  constructor(private readonly onCommit: () => void) {}

  /** Marks `queryRunner` as holding uncommitted outbox rows, subscribing to its DataSource when needed. */
  track(queryRunner: QueryRunner): void {
    const dataSource = queryRunner.connection;
    // Checked on every call, not once: DataSource.initialize() replaces its subscribers array.
    if (!dataSource.subscribers.includes(this)) {
      dataSource.subscribers.push(this);
      this.attachedTo.add(dataSource);
    }
    this.pending.add(queryRunner);
  }

  /** Clears the mark; true when there was one. For callers that learn of the commit themselves. */
  take(queryRunner: QueryRunner): boolean {
    return this.pending.delete(queryRunner);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    if (event.queryRunner.isTransactionActive) return;
    if (this.pending.delete(event.queryRunner)) this.onCommit();
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    // A rolled-back savepoint leaves the outer transaction, and maybe its rows, alive.
    if (!event.queryRunner.isTransactionActive) this.pending.delete(event.queryRunner);
  }

  /** Unsubscribes from every DataSource it joined. */
  detach(): void {
    for (const dataSource of this.attachedTo) {
      const index = dataSource.subscribers.indexOf(this);
      if (index >= 0) dataSource.subscribers.splice(index, 1);
    }
    this.attachedTo.clear();
  }
}
