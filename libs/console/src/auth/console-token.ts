import { createHash, randomBytes } from 'node:crypto';

/** A new random bearer token (256 bits) for scripts; configure only its hash. */
export function newConsoleToken(): string {
  return `rmqc_${randomBytes(32).toString('base64url')}`;
}

/**
 * The form `auth.tokens[].tokenHash` takes. A token is random and long, so one SHA-256 is enough to keep a copy
 * of the configuration from being usable as a credential; passwords, which are guessable, use scrypt instead.
 */
export function hashConsoleToken(token: string): string {
  return `sha256:${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}
