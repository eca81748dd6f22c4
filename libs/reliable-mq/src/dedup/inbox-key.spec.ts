import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { INBOX_KEY_MAX_LENGTH, toInboxKey } from './inbox-key';

const sha = (value: string): string => `sha256:${createHash('sha256').update(value, 'utf8').digest('hex')}`;

describe('toInboxKey', () => {
  it('keeps values that fit as they are, so operators can read them', () => {
    expect(toInboxKey('order:42/ü 🚀')).toBe('order:42/ü 🚀');
    expect(toInboxKey('y'.repeat(INBOX_KEY_MAX_LENGTH))).toBe('y'.repeat(INBOX_KEY_MAX_LENGTH));
  });

  it('hashes longer values into something that fits the column', () => {
    const long = 'y'.repeat(INBOX_KEY_MAX_LENGTH + 1);
    expect(toInboxKey(long)).toBe(sha(long));
    expect(toInboxKey(long).length).toBeLessThanOrEqual(INBOX_KEY_MAX_LENGTH);
    expect(toInboxKey(`${'x'.repeat(511)}1`)).not.toBe(toInboxKey(`${'x'.repeat(511)}2`));
  });

  it('hashes a literal value that looks like a hash, so it cannot meet the hash of a long value', () => {
    const long = 'z'.repeat(300);
    expect(toInboxKey(toInboxKey(long))).not.toBe(toInboxKey(long));
  });

  it('hashes values with NUL, which PostgreSQL cannot store in text', () => {
    expect(toInboxKey('a\u0000b')).toBe(sha('a\u0000b'));
  });
});
