import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';

export interface ConsoleSession {
  username: string;
  csrfToken: string;
  expiresAt: number;
}

interface SessionRow {
  id_hash: string;
  username: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
}

/** Last-seen times are written at most this often, so reading pages does not write on every request. */
const TOUCH_EVERY_MS = 30_000;

const hashId = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

/**
 * Login sessions. The cookie carries a random 256-bit id; the store keeps only its SHA-256, so a copy of the store
 * does not let anyone log in. A session ends at its absolute expiry, after `idleTimeout` without use, at logout,
 * and when an admin changes or removes its user.
 */
@Injectable()
export class SessionService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
  ) {}

  create(username: string): ConsoleSession & { id: string } {
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const now = this.options.now();
    const expiresAt = now + this.options.sessionTtlMs;
    this.store.db
      .prepare(
        `INSERT INTO sessions (id_hash, username, csrf_token, created_at, expires_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(hashId(id), username, csrfToken, now, expiresAt, now);
    return { id, username, csrfToken, expiresAt };
  }

  resolve(id: string): ConsoleSession | null {
    const row = this.store.db.prepare('SELECT * FROM sessions WHERE id_hash = ?').get(hashId(id)) as
      SessionRow | undefined;
    if (!row) return null;
    const now = this.options.now();
    if (row.expires_at <= now || row.last_seen_at + this.options.idleTimeoutMs <= now) {
      this.destroy(id);
      return null;
    }
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) {
      this.store.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?').run(now, row.id_hash);
    }
    return { username: row.username, csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  destroy(id: string): void {
    this.store.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(hashId(id));
  }

  destroyAllOf(username: string): void {
    this.store.db.prepare('DELETE FROM sessions WHERE username = ?').run(username);
  }

  prune(): number {
    const now = this.options.now();
    return this.store.db
      .prepare('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?')
      .run(now, now - this.options.idleTimeoutMs).changes;
  }
}
