import { describe, expect, it } from 'vitest';
import { costOf, hashConsolePassword, isPasswordHash, verifyConsolePassword } from './password-hash';

describe('console password hashes', () => {
  it('salts each hash, verifies the right password only, and keeps its cost in the hash', async () => {
    const a = await hashConsolePassword('a good password', { cost: 10 });
    const b = await hashConsolePassword('a good password', { cost: 10 });
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$10\$8\$1\$/);
    expect(costOf(a)).toBe(10);
    expect(await verifyConsolePassword('a good password', a)).toBe(true);
    expect(await verifyConsolePassword('a good passworD', a)).toBe(false);
    expect(await verifyConsolePassword('', a)).toBe(false);
  });

  it('uses cost 15 by default and refuses short passwords and out-of-range costs', async () => {
    expect(costOf(await hashConsolePassword('another password'))).toBe(15);
    await expect(hashConsolePassword('short')).rejects.toThrow('at least 8 characters');
    await expect(hashConsolePassword('long enough', { cost: 40 })).rejects.toThrow('cost must be');
  });

  it('treats anything but a well-formed hash as no hash, including crafted costs', async () => {
    for (const value of [
      'plaintext',
      '',
      'scrypt$31$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + 'A'.repeat(43) + '=',
      undefined,
      42,
    ]) {
      expect(isPasswordHash(value), String(value)).toBe(false);
    }
    expect(await verifyConsolePassword('plaintext', 'plaintext')).toBe(false);
  });
});
