import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { outboxDialect } from '../outbox/outbox-dialect';
import type { OutboxMessage, OutboxStatus } from '../outbox/outbox-message.entity';
import { OUTBOX_INSERT_COLUMNS, outboxRowFromRaw } from '../outbox/outbox-row.codec';
import { ContractViolation } from './contract-assertions';

/*
 * The outbox contract's own access to the table: it writes the rows a case starts from and reads what the store under
 * test left, with plain SQL, so that a case never trusts the store it checks to report on itself.
 */

/** A row to write; unset columns take the values of a fresh pending row written at `createdAt`. */
export interface SeedRow {
  topic?: string;
  key?: string | null;
  status?: OutboxStatus;
  attempts?: number;
  createdAt: number;
  /** Defaults to `createdAt`: due as soon as it is written, as the publisher writes rows. */
  nextAttemptAt?: number;
  sentAt?: number | null;
  leaseOwner?: string | null;
  leaseUntil?: number | null;
  payload?: string;
  lastError?: string | null;
}

/** The publisher's columns, then those the relay writes later, so that a case can start from any state of a row. */
const COLUMNS = [...OUTBOX_INSERT_COLUMNS, 'sent_at', 'lease_owner', 'lease_until', 'last_error'];

/**
 * Writes the rows one by one, in order (so their seq ascends), each committed, or inside the transaction of `manager`
 * when one is given; resolves their message ids.
 */
export async function writeRows(
  dataSource: DataSource,
  rows: readonly SeedRow[],
  manager?: EntityManager,
): Promise<string[]> {
  const { table, param, quote } = outboxDialect(dataSource);
  const sql =
    `INSERT INTO ${table} (${COLUMNS.map(quote).join(', ')}) ` +
    `VALUES (${COLUMNS.map((_, index) => param(index + 1)).join(', ')})`;
  const ids: string[] = [];
  for (const row of rows) {
    const id = randomUUID();
    const status = row.status ?? 'pending';
    await (manager ?? dataSource).query(sql, [
      id,
      'contract',
      row.topic ?? 'contract.topic',
      row.key ?? null,
      null,
      '{}',
      row.payload ?? '{"n":1}',
      status,
      row.attempts ?? 0,
      row.nextAttemptAt ?? row.createdAt,
      null,
      row.createdAt,
      row.sentAt ?? (status === 'sent' ? row.createdAt : null),
      row.leaseOwner ?? null,
      row.leaseUntil ?? null,
      row.lastError ?? null,
    ]);
    ids.push(id);
  }
  return ids;
}

/** Every row, in seq order. */
export async function readRows(dataSource: DataSource): Promise<OutboxMessage[]> {
  const { table } = outboxDialect(dataSource);
  const raw = (await dataSource.query(`SELECT * FROM ${table} ORDER BY seq`)) as Array<Record<string, unknown>>;
  return raw.map(outboxRowFromRaw);
}

/** The row with message id `id`; throws when there is none. */
export async function readRow(dataSource: DataSource, id: string): Promise<OutboxMessage> {
  const row = (await readRows(dataSource)).find((candidate) => candidate.id === id);
  if (!row) throw new ContractViolation(`the outbox has no row ${id} any more`);
  return row;
}

export async function emptyOutbox(dataSource: DataSource): Promise<void> {
  await dataSource.query(`DELETE FROM ${outboxDialect(dataSource).table}`);
}

/** The message ids of `rows`, in their order: what most cases compare. */
export function idsOf(rows: ReadonlyArray<{ id: string }>): string[] {
  return rows.map((row) => row.id);
}
