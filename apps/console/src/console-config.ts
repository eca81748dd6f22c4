import { parseDuration } from '@reliable-mq/engine';
import type { ConsoleTokenConfig, ConsoleUserConfig } from '@reliable-mq/console';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** A service database given as `name=url`. */
export interface ServiceDatabaseConfig {
  name: string;
  type: 'better-sqlite3' | 'postgres' | 'mysql';
  /** A file for SQLite, a URL otherwise. */
  location: string;
}

export interface StandaloneConsoleConfig {
  port: number;
  host: string;
  path: string;
  /** The embedded broker's data directory. */
  brokerDataDir: string;
  services: ServiceDatabaseConfig[];
  users: ConsoleUserConfig[];
  tokens: ConsoleTokenConfig[];
  storeFile: string;
  dedupWindows: Record<string, number | null>;
  secureCookies: boolean | 'auto';
  /** Express `trust proxy` value; undefined trusts no proxy. */
  trustProxy?: string;
}

export const CONSOLE_ENV_HELP = [
  'CONSOLE_PORT          port (default 3003)',
  'HOST                  interface to listen on (default 127.0.0.1)',
  'CONSOLE_PATH          mount path (default /console)',
  'BROKER_DATA_DIR       the embedded broker data directory to operate (default ./data/broker)',
  'BROKER_URL            a standalone broker (needs the remote transport; not in this build)',
  'SERVICE_DATABASES     outboxes to show: name=sqlite:path, name=postgres://..., name=mysql://... (comma-separated)',
  'CONSOLE_USERS_FILE    JSON array of { username, passwordHash, role } (required unless CONSOLE_TOKENS_FILE)',
  'CONSOLE_TOKENS_FILE   JSON array of { name, tokenHash, role } for scripts',
  "CONSOLE_STORE         the console's own SQLite file (default ./data/console.sqlite)",
  'CONSOLE_DEDUP_WINDOWS dedup window per group: group=7d, group=none (comma-separated)',
  'CONSOLE_SECURE_COOKIES true, false or auto (default auto: Secure over HTTPS)',
  'CONSOLE_TRUST_PROXY   behind a TLS-terminating proxy: its address, e.g. loopback or 10.0.0.5 (default: none)',
];

export type ConfigResult = { ok: true; config: StandaloneConsoleConfig } | { ok: false; errors: string[] };

/** Reads the standalone console's settings; every problem is one sentence. */
export function readConsoleConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): ConfigResult {
  const errors: string[] = [];
  const portText = env.CONSOLE_PORT?.trim() || '3003';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    errors.push(
      `CONSOLE_PORT must be a port number from 1 to 65535 (or 0 for any free port); got ${JSON.stringify(env.CONSOLE_PORT)}.`,
    );
  }
  if (env.BROKER_URL?.trim()) {
    errors.push(
      'BROKER_URL: this build operates an embedded broker data directory only (BROKER_DATA_DIR); the remote broker ' +
        'transport plugs in through the same Transport interface once it is available.',
    );
  }
  const services: ServiceDatabaseConfig[] = [];
  for (const entry of (env.SERVICE_DATABASES ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z0-9._-]{1,64})=(.+)$/.exec(entry);
    if (!match) {
      errors.push(`SERVICE_DATABASES: "${entry}" must be name=url, e.g. orders=sqlite:data/orders.sqlite.`);
      continue;
    }
    const [, name, url] = match as unknown as [string, string, string];
    if (url.startsWith('sqlite:'))
      services.push({ name, type: 'better-sqlite3', location: resolve(cwd, url.slice(7)) });
    else if (/^postgres(ql)?:\/\//.test(url)) services.push({ name, type: 'postgres', location: url });
    else if (/^(mysql|mariadb):\/\//.test(url))
      services.push({ name, type: 'mysql', location: url.replace(/^mariadb:/, 'mysql:') });
    else
      errors.push(
        `SERVICE_DATABASES: ${name} must use sqlite:<file>, postgres://... or mysql://...; got "${url.split(':')[0]}:".`,
      );
  }
  const users = readJsonList<ConsoleUserConfig>(env.CONSOLE_USERS_FILE, 'CONSOLE_USERS_FILE', cwd, errors);
  const tokens = readJsonList<ConsoleTokenConfig>(env.CONSOLE_TOKENS_FILE, 'CONSOLE_TOKENS_FILE', cwd, errors);
  const unreadable = errors.some((error) => /^CONSOLE_(USERS|TOKENS)_FILE: /.test(error));
  if (users.length === 0 && tokens.length === 0 && !unreadable) {
    errors.push(
      'CONSOLE_USERS_FILE is required: the console never allows anonymous access. Create a password hash with ' +
        '`npm run console -- hash-password` and write [{"username":"alice","passwordHash":"scrypt$...","role":"operator"}] to a file.',
    );
  }
  const dedupWindows: Record<string, number | null> = {};
  for (const entry of (env.CONSOLE_DEDUP_WINDOWS ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [group, value] = entry.split('=') as [string, string | undefined];
    if (!group || value === undefined) {
      errors.push(`CONSOLE_DEDUP_WINDOWS: "${entry}" must be group=duration or group=none.`);
      continue;
    }
    if (value === 'none') {
      dedupWindows[group] = null;
      continue;
    }
    try {
      dedupWindows[group] = parseDuration(value, `CONSOLE_DEDUP_WINDOWS ${group}`);
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  const secure = (env.CONSOLE_SECURE_COOKIES?.trim() || 'auto').toLowerCase();
  if (!['true', 'false', 'auto'].includes(secure)) {
    errors.push(
      `CONSOLE_SECURE_COOKIES must be true, false or auto; got ${JSON.stringify(env.CONSOLE_SECURE_COOKIES)}.`,
    );
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      port,
      host: env.HOST?.trim() || '127.0.0.1',
      path: env.CONSOLE_PATH?.trim() || '/console',
      brokerDataDir: resolve(cwd, env.BROKER_DATA_DIR?.trim() || 'data/broker'),
      services,
      users,
      tokens,
      storeFile: resolve(cwd, env.CONSOLE_STORE?.trim() || 'data/console.sqlite'),
      dedupWindows,
      secureCookies: secure === 'auto' ? 'auto' : secure === 'true',
      ...(env.CONSOLE_TRUST_PROXY?.trim() ? { trustProxy: env.CONSOLE_TRUST_PROXY.trim() } : {}),
    },
  };
}

function readJsonList<T>(file: string | undefined, name: string, cwd: string, errors: string[]): T[] {
  if (!file?.trim()) return [];
  try {
    const value = JSON.parse(readFileSync(resolve(cwd, file.trim()), 'utf8')) as unknown;
    if (!Array.isArray(value)) throw new Error('expected a JSON array');
    return value as T[];
  } catch (error) {
    errors.push(`${name}: cannot read ${file}: ${(error as Error).message}.`);
    return [];
  }
}
