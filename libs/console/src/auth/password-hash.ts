import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes with scrypt from Node's own crypto (OpenSSL's implementation): memory-hard, salted, and kept up
 * to date with the runtime, so the console needs no native hashing add-on. Stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt, base64>$<hash, base64>`; the parameters travel with the hash, so raising the cost
 * later leaves existing hashes valid.
 */
const PREFIX = 'scrypt';
const KEY_LENGTH = 32;
const DEFAULT_LOG_N = 15;
/** Bounds on parameters read from a hash, so a crafted hash cannot make a login allocate gigabytes. */
const MAX_LOG_N = 20;
const MAX_R = 16;
const MAX_P = 4;

const HASH_PATTERN = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d)\$([A-Za-z0-9+/]{22,}={0,2})\$([A-Za-z0-9+/]{43}=?)$/;

function derive(password: string, salt: Buffer, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * 2 + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

/** `cost` is log2 of scrypt's N; the default (15) takes tens of milliseconds. Tests may pass a lower one. */
export async function hashConsolePassword(password: string, options: { cost?: number } = {}): Promise<string> {
  if (typeof password !== 'string' || password.length < 8) {
    throw new Error('A console password needs at least 8 characters.');
  }
  const logN = options.cost ?? DEFAULT_LOG_N;
  if (!Number.isInteger(logN) || logN < 10 || logN > MAX_LOG_N)
    throw new Error(`cost must be from 10 to ${MAX_LOG_N}.`);
  const salt = randomBytes(16);
  const key = await derive(password, salt, logN, 8, 1);
  return [PREFIX, logN, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

export function isPasswordHash(value: unknown): value is string {
  const match = typeof value === 'string' ? HASH_PATTERN.exec(value) : null;
  if (!match) return false;
  const [logN, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return logN >= 10 && logN <= MAX_LOG_N && r >= 1 && r <= MAX_R && p >= 1 && p <= MAX_P;
}

/** Constant-time comparison of the derived key; false for anything that is not a well-formed hash. */
export async function verifyConsolePassword(password: string, hash: string): Promise<boolean> {
  if (typeof password !== 'string' || !isPasswordHash(hash)) return false;
  const [, logN, r, p, salt, expected] = HASH_PATTERN.exec(hash)!;
  const expectedKey = Buffer.from(expected!, 'base64');
  const key = await derive(password, Buffer.from(salt!, 'base64'), Number(logN), Number(r), Number(p));
  return key.length === expectedKey.length && timingSafeEqual(key, expectedKey);
}

/** log2 N of a hash made here; undefined for anything else. */
export function costOf(hash: string | undefined): number | undefined {
  return isPasswordHash(hash) ? Number(HASH_PATTERN.exec(hash)![1]) : undefined;
}
