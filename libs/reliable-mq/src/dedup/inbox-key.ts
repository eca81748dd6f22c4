import { createHash } from 'node:crypto';

/**
 * Longest value stored as-is in `rmq_inbox.group_name` and `rmq_inbox.dedup_key`: 191 characters of utf8mb4 is the
 * most a MySQL/MariaDB index column takes (191 × 4 bytes ≤ 767).
 */
export const INBOX_KEY_MAX_LENGTH = 191;

const HASH_MARK = 'sha256:';

/**
 * The column value for a group name or dedup key. Values that fit are stored as they are, so operators can read
 * them. Longer values, and values that a database cannot store (NUL), become `sha256:<hex>` of their UTF-8 bytes.
 * Values that already start with `sha256:` are hashed too, so that no literal value can equal the hash of another.
 */
export function toInboxKey(value: string): string {
  if (value.length <= INBOX_KEY_MAX_LENGTH && !value.startsWith(HASH_MARK) && !value.includes('\u0000')) {
    return value;
  }
  return HASH_MARK + createHash('sha256').update(value, 'utf8').digest('hex');
}
