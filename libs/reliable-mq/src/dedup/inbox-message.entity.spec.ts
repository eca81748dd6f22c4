import type { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { inboxKeyCollation } from './inbox-message.entity';

const server = (type: 'mysql' | 'mariadb', version?: string): DataSource =>
  ({ options: { type }, driver: { version } }) as unknown as DataSource;

describe('inboxKeyCollation', () => {
  it('picks the binary no-pad collation the server has, as the inbox migration does', () => {
    expect(inboxKeyCollation(server('mariadb', '10.11.9'))).toBe('utf8mb4_nopad_bin');
    expect(inboxKeyCollation(server('mariadb', '11.4.2'))).toBe('utf8mb4_nopad_bin');
    // MariaDB reached through a `mysql` DataSource.
    expect(inboxKeyCollation(server('mysql', '10.6.18'))).toBe('utf8mb4_nopad_bin');
    expect(inboxKeyCollation(server('mysql', '8.0.17'))).toBe('utf8mb4_0900_bin');
    expect(inboxKeyCollation(server('mysql', '8.4.3'))).toBe('utf8mb4_0900_bin');
    expect(inboxKeyCollation(server('mysql', '9.1.0'))).toBe('utf8mb4_0900_bin');
  });

  it('falls back to utf8mb4_bin on servers without a no-pad binary collation', () => {
    expect(inboxKeyCollation(server('mysql', '8.0.16'))).toBe('utf8mb4_bin');
    expect(inboxKeyCollation(server('mysql', '5.7.44'))).toBe('utf8mb4_bin');
    expect(inboxKeyCollation(server('mariadb', '10.1.48'))).toBe('utf8mb4_bin');
    expect(inboxKeyCollation(server('mysql'))).toBe('utf8mb4_bin');
  });
});
