/**
 * What a failed statement means for dedup, read from the driver's error (TypeORM's QueryFailedError copies the
 * driver's fields and keeps the original in `driverError`):
 * - `unique-violation`: the inbox row exists, so the message was handled;
 * - `lock-conflict`: another transaction holds the row (deadlock, lock wait timeout, busy database);
 * - `other`: anything else.
 */
export type DatabaseErrorKind = 'unique-violation' | 'lock-conflict' | 'other';

interface DriverErrorFields {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  driverError?: unknown;
}

// PostgreSQL SQLSTATEs: deadlock_detected, lock_not_available, serialization_failure.
const PG_LOCK_CONFLICTS = new Set(['40P01', '55P03', '40001']);
// MySQL/MariaDB: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
const MYSQL_LOCK_CONFLICTS = new Set([1213, 1205]);
const SQLITE_UNIQUE_CODES = new Set(['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE']);

export function databaseErrorKind(error: unknown): DatabaseErrorKind {
  for (const fields of candidates(error)) {
    const { code, errno, message } = fields;
    if (code === '23505' || code === 'ER_DUP_ENTRY' || errno === 1062) return 'unique-violation';
    if (typeof code === 'string' && SQLITE_UNIQUE_CODES.has(code)) return 'unique-violation';
    // node-sqlite3 reports only the primary result code; the message says which constraint failed.
    if (
      code === 'SQLITE_CONSTRAINT' &&
      typeof message === 'string' &&
      /UNIQUE constraint failed|PRIMARY KEY/i.test(message)
    ) {
      return 'unique-violation';
    }
    if (typeof code === 'string' && PG_LOCK_CONFLICTS.has(code)) return 'lock-conflict';
    if (typeof errno === 'number' && MYSQL_LOCK_CONFLICTS.has(errno)) return 'lock-conflict';
    if (code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT') return 'lock-conflict';
    if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')))
      return 'lock-conflict';
  }
  return 'other';
}

function candidates(error: unknown): DriverErrorFields[] {
  if (typeof error !== 'object' || error === null) return [];
  const outer = error as DriverErrorFields;
  const inner =
    typeof outer.driverError === 'object' && outer.driverError !== null
      ? (outer.driverError as DriverErrorFields)
      : undefined;
  return inner ? [inner, outer] : [outer];
}
