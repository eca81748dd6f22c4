import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ConsolePermission, ConsoleRole } from '../console-options.interface';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal } from '../http/console-request';
import type { ConsoleStore } from '../store/console-store';
import { costOf, hashConsolePassword, verifyConsolePassword } from './password-hash';

export interface ConsoleUserView {
  username: string;
  role: ConsoleRole;
  /** `config`: from the module options, changed only there. `console`: added by an admin. */
  source: 'config' | 'console';
  createdAt: number | null;
}

interface StoredUser {
  username: string;
  password_hash: string;
  role: ConsoleRole;
  created_at: number;
  updated_at: number;
}

/**
 * Users and tokens: those configured in the module options, plus users an admin added (kept in the console
 * store). A configured name always wins, so the store cannot shadow an account the host configured.
 */
@Injectable()
export class UserDirectory {
  /** Verified against when the username is unknown, so a wrong name costs as much time as a wrong password. */
  private decoyHash: Promise<string> | undefined;

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
  ) {}

  async authenticate(username: string, password: string): Promise<ConsolePrincipal | null> {
    const hash = this.passwordHashOf(username);
    if (hash === undefined) {
      // Same cost as the configured hashes, so both paths take the same time.
      this.decoyHash ??= hashConsolePassword('decoy-password-never-used', {
        cost: costOf(this.options.users[0]?.passwordHash),
      });
      await verifyConsolePassword(password, await this.decoyHash);
      return null;
    }
    if (!(await verifyConsolePassword(password, hash))) return null;
    const role = this.roleOf(username);
    return role ? { name: username, role, via: 'session', permissions: this.permissionsOf(username) } : null;
  }

  authenticateToken(token: string): ConsolePrincipal | null {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    for (const configured of this.options.tokens) {
      const expected = Buffer.from(configured.tokenHash.slice('sha256:'.length), 'hex');
      if (expected.length === digest.length && timingSafeEqual(expected, digest)) {
        return {
          name: `token:${configured.name}`,
          role: configured.role,
          via: 'token',
          permissions: [...(configured.permissions ?? [])],
        };
      }
    }
    return null;
  }

  /** The current role, looked up on every request so that a role change or removal takes effect at once. */
  roleOf(username: string): ConsoleRole | undefined {
    const configured = this.options.users.find((user) => user.username === username);
    if (configured) return configured.role;
    return this.stored(username)?.role;
  }

  /** Rights beside the role; only configured users have any, so no admin can grant one from the console. */
  permissionsOf(username: string): ConsolePermission[] {
    return [...(this.options.users.find((user) => user.username === username)?.permissions ?? [])];
  }

  list(): ConsoleUserView[] {
    const configured: ConsoleUserView[] = this.options.users.map((user) => ({
      username: user.username,
      role: user.role,
      source: 'config',
      createdAt: null,
    }));
    const names = new Set(configured.map((user) => user.username));
    const stored = (this.store.db.prepare('SELECT * FROM users ORDER BY username').all() as StoredUser[])
      .filter((user) => !names.has(user.username))
      .map((user): ConsoleUserView => ({
        username: user.username,
        role: user.role,
        source: 'console',
        createdAt: user.created_at,
      }));
    return [...configured, ...stored];
  }

  async create(username: string, password: string, role: ConsoleRole): Promise<ConsoleUserView> {
    if (this.roleOf(username) !== undefined) throw new ConflictException(`User "${username}" already exists.`);
    const hash = await hashConsolePassword(password);
    const now = this.options.now();
    this.store.db
      .prepare('INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
      .run(username, hash, role, now, now);
    return { username, role, source: 'console', createdAt: now };
  }

  async update(username: string, change: { role?: ConsoleRole; password?: string }): Promise<ConsoleUserView> {
    const user = this.editable(username);
    const hash = change.password === undefined ? user.password_hash : await hashConsolePassword(change.password);
    const role = change.role ?? user.role;
    this.store.db
      .prepare('UPDATE users SET password_hash = ?, role = ?, updated_at = ? WHERE username = ?')
      .run(hash, role, this.options.now(), username);
    return { username, role, source: 'console', createdAt: user.created_at };
  }

  remove(username: string): void {
    this.editable(username);
    this.store.db.prepare('DELETE FROM users WHERE username = ?').run(username);
  }

  private editable(username: string): StoredUser {
    if (this.options.users.some((user) => user.username === username)) {
      throw new ConflictException(
        `User "${username}" is configured in the console's module options; change it there, not in the console.`,
      );
    }
    const user = this.stored(username);
    if (!user) throw new NotFoundException(`There is no user "${username}".`);
    return user;
  }

  private passwordHashOf(username: string): string | undefined {
    const configured = this.options.users.find((user) => user.username === username);
    return configured ? configured.passwordHash : this.stored(username)?.password_hash;
  }

  private stored(username: string): StoredUser | undefined {
    return this.store.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as StoredUser | undefined;
  }
}
