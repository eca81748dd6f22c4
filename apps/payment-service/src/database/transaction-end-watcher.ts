import { Injectable } from '@nestjs/common';
import {
  DataSource,
  type EntitySubscriberInterface,
  type QueryRunner,
  type TransactionCommitEvent,
  type TransactionRollbackEvent,
} from 'typeorm';

export type TransactionEnd = 'commit' | 'rollback';

/**
 * Tells when the transaction a QueryRunner is in has really ended. TypeORM has no commit hook on an EntityManager,
 * but every QueryRunner broadcasts its commits and rollbacks to the DataSource's subscribers. Releasing or rolling
 * back a savepoint broadcasts too, so only an end that leaves the runner outside any transaction counts.
 */
@Injectable()
export class TransactionEndWatcher implements EntitySubscriberInterface {
  private readonly waiting = new Map<QueryRunner, Array<(end: TransactionEnd) => void>>();

  constructor(dataSource: DataSource) {
    // The DataSource is initialised already, so this array is the one it keeps.
    dataSource.subscribers.push(this);
  }

  /** Resolves once the outermost transaction `queryRunner` is in commits or rolls back. Never rejects. */
  whenEnds(queryRunner: QueryRunner): Promise<TransactionEnd> {
    if (!queryRunner.isTransactionActive) {
      return Promise.reject(new Error('whenEnds() needs a QueryRunner inside a transaction.'));
    }
    return new Promise((resolve) => {
      const list = this.waiting.get(queryRunner) ?? [];
      list.push(resolve);
      this.waiting.set(queryRunner, list);
    });
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    this.ended(event.queryRunner, 'commit');
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    this.ended(event.queryRunner, 'rollback');
  }

  private ended(queryRunner: QueryRunner, end: TransactionEnd): void {
    if (queryRunner.isTransactionActive) return;
    const list = this.waiting.get(queryRunner);
    if (!list) return;
    this.waiting.delete(queryRunner);
    for (const resolve of list) resolve(end);
  }
}
