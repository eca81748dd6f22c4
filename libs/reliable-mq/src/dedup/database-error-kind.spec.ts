import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { databaseErrorKind } from './database-error-kind';

function driverError(fields: Record<string, unknown>): Error {
  return Object.assign(new Error(String(fields.message ?? 'driver error')), fields);
}

describe('databaseErrorKind', () => {
  it.each([
    ['PostgreSQL unique_violation', { code: '23505' }],
    ['MySQL/MariaDB ER_DUP_ENTRY', { code: 'ER_DUP_ENTRY', errno: 1062 }],
    ['better-sqlite3 primary key', { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }],
    ['better-sqlite3 unique index', { code: 'SQLITE_CONSTRAINT_UNIQUE' }],
    [
      'node-sqlite3',
      { code: 'SQLITE_CONSTRAINT', message: 'SQLITE_CONSTRAINT: UNIQUE constraint failed: rmq_inbox.dedup_key' },
    ],
  ])('reads %s as a unique violation, raw or wrapped by TypeORM', (_, fields) => {
    const raw = driverError(fields);
    expect(databaseErrorKind(raw)).toBe('unique-violation');
    expect(databaseErrorKind(new QueryFailedError('INSERT …', [], raw))).toBe('unique-violation');
  });

  it.each([
    ['PostgreSQL deadlock', { code: '40P01' }],
    ['PostgreSQL lock_not_available', { code: '55P03' }],
    ['MySQL deadlock', { code: 'ER_LOCK_DEADLOCK', errno: 1213 }],
    ['MySQL lock wait timeout', { code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }],
    ['SQLite busy', { code: 'SQLITE_BUSY' }],
  ])('reads %s as a lock conflict', (_, fields) => {
    expect(databaseErrorKind(new QueryFailedError('INSERT …', [], driverError(fields)))).toBe('lock-conflict');
  });

  it.each([
    ['a refused connection', { code: 'ECONNREFUSED' }],
    ['a missing table', { code: '42P01' }],
    ['another constraint', { code: 'SQLITE_CONSTRAINT_NOTNULL' }],
  ])('reads %s as other', (_, fields) => {
    expect(databaseErrorKind(driverError(fields))).toBe('other');
  });

  it('reads values that are not errors as other', () => {
    expect(databaseErrorKind('boom')).toBe('other');
    expect(databaseErrorKind(null)).toBe('other');
  });
});
