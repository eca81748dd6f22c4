import { parseDuration } from '@reliable-mq/engine';
import { ConfigurationError } from '@reliable-mq/nestjs';
import {
  CONSOLE_ROLES,
  type ConsoleConsumerInfo,
  type ConsoleRole,
  type ConsoleServiceDatabase,
  type ConsoleTokenConfig,
  type ConsoleUserConfig,
  type ReliableMqConsoleOptions,
} from './console-options.interface';
import { isPasswordHash } from './auth/password-hash';

export const DEFAULT_MOUNT_PATH = '/console';
const SEVEN_DAYS = 7 * 24 * 3_600_000;

export interface ResolvedConsoleOptions {
  broker: ReliableMqConsoleOptions['broker'];
  services: ConsoleServiceDatabase[];
  users: ConsoleUserConfig[];
  tokens: ConsoleTokenConfig[];
  sessionTtlMs: number;
  idleTimeoutMs: number;
  secureCookies: boolean | 'auto';
  loginMaxFailures: number;
  loginWindowMs: number;
  storeFile: string;
  consumers: ConsoleConsumerInfo[];
  discoverConsumers: boolean;
  dedupWindows: Map<string, number | null>;
  defaultDedupWindowMs: number | null;
  stuckAfterMs: number;
  retry: { defaultRatePerSec: number; maxRatePerSec: number; maxMessages: number; maxConcurrentJobs: number };
  sampling: { intervalMs: number; retentionMs: number; maxRows: number } | null;
  auditRetentionMs: number;
  bodyLimitBytes: number;
  now: () => number;
}

function fix(problem: string): never {
  throw new ConfigurationError(`ReliableMqConsoleModule: ${problem}`);
}

function duration(name: string, value: number | string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(value, name);
  } catch (error) {
    return fix((error as Error).message);
  }
  if (ms < min) fix(`${name} must be at least ${min} ms; got ${JSON.stringify(value)}.`);
  return ms;
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fix(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

function window(name: string, value: number | string | null | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  return duration(name, value, 0);
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Checks the console's options at startup; every problem is one sentence saying what to change. */
export function resolveConsoleOptions(raw: ReliableMqConsoleOptions | undefined): ResolvedConsoleOptions {
  if (!raw || typeof raw !== 'object') fix('options are missing; pass { broker, auth, storeFile }.');
  const options = raw!;
  const transport = options.broker?.transport;
  if (!transport || typeof transport.deadLetters?.list !== 'function') {
    fix('broker.transport must be a transport with deadLetters operations, e.g. the RELIABLE_MQ_TRANSPORT of the app.');
  }
  if (options.broker.stats !== undefined && typeof options.broker.stats !== 'function') {
    fix('broker.stats must be a function returning the engine statistics, or left out.');
  }
  if (options.broker.validatePayload !== undefined && typeof options.broker.validatePayload !== 'function') {
    fix('broker.validatePayload must be a function (group, topic, payload) asking a live consumer, or left out.');
  }
  if (typeof options.storeFile !== 'string' || options.storeFile.trim() === '') {
    fix('storeFile must name the SQLite file for audit, sessions and samples, e.g. "data/console.sqlite".');
  }

  const auth = options.auth ?? {};
  const users = auth.users ?? [];
  const tokens = auth.tokens ?? [];
  if (users.length === 0 && tokens.length === 0) {
    fix(
      'auth needs at least one user or token: the console never allows anonymous access. ' +
        'Create a password hash with `npm run console -- hash-password` and add { username, passwordHash, role }.',
    );
  }
  const seen = new Set<string>();
  for (const user of users) {
    if (typeof user?.username !== 'string' || !NAME.test(user.username)) {
      fix(`auth.users: username ${JSON.stringify(user?.username)} must be 1-64 letters, digits, ".", "_" or "-".`);
    }
    if (seen.has(user.username)) fix(`auth.users: username "${user.username}" appears twice.`);
    seen.add(user.username);
    if (!isPasswordHash(user.passwordHash)) {
      fix(
        `auth.users: the passwordHash of "${user.username}" is not a hash made by hashConsolePassword; ` +
          'never configure a plain password. Run `npm run console -- hash-password`.',
      );
    }
    checkRole(`auth.users "${user.username}"`, user.role);
  }
  const tokenNames = new Set<string>();
  for (const token of tokens) {
    if (typeof token?.name !== 'string' || !NAME.test(token.name)) {
      fix(`auth.tokens: name ${JSON.stringify(token?.name)} must be 1-64 letters, digits, ".", "_" or "-".`);
    }
    if (tokenNames.has(token.name)) fix(`auth.tokens: name "${token.name}" appears twice.`);
    tokenNames.add(token.name);
    if (typeof token.tokenHash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(token.tokenHash)) {
      fix(
        `auth.tokens "${token.name}": tokenHash must be "sha256:<64 hex digits>"; run \`npm run console -- new-token\`.`,
      );
    }
    checkRole(`auth.tokens "${token.name}"`, token.role);
  }

  const services = options.services ?? [];
  const serviceNames = new Set<string>();
  for (const service of services) {
    if (typeof service?.name !== 'string' || !NAME.test(service.name)) {
      fix(`services: name ${JSON.stringify(service?.name)} must be 1-64 letters, digits, ".", "_" or "-".`);
    }
    if (serviceNames.has(service.name)) fix(`services: two service databases are named "${service.name}".`);
    serviceNames.add(service.name);
    if (!service.dataSource || typeof service.dataSource.query !== 'function') {
      fix(`services "${service.name}": dataSource must be a TypeORM DataSource.`);
    }
  }

  const dedupWindows = new Map<string, number | null>();
  for (const [group, value] of Object.entries(options.dedupWindows ?? {})) {
    dedupWindows.set(group, window(`dedupWindows["${group}"]`, value, null));
  }

  const retry = options.bulkRetry ?? {};
  const maxRatePerSec = integer('bulkRetry.maxRatePerSec', retry.maxRatePerSec, 500, 1, 100_000);
  const defaultRatePerSec = integer(
    'bulkRetry.defaultRatePerSec',
    retry.defaultRatePerSec,
    Math.min(20, maxRatePerSec),
    1,
    100_000,
  );
  if (defaultRatePerSec > maxRatePerSec) {
    fix(`bulkRetry.defaultRatePerSec (${defaultRatePerSec}) is above bulkRetry.maxRatePerSec (${maxRatePerSec}).`);
  }

  const sampling =
    options.sampling === false
      ? null
      : {
          intervalMs: duration('sampling.interval', options.sampling?.interval, 15_000, 100),
          retentionMs: duration('sampling.retention', options.sampling?.retention, 24 * 3_600_000, 1_000),
          maxRows: integer('sampling.maxRows', options.sampling?.maxRows, 200_000, 100, 10_000_000),
        };

  const secureCookies = auth.secureCookies ?? 'auto';
  if (secureCookies !== 'auto' && typeof secureCookies !== 'boolean') {
    fix(`auth.secureCookies must be true, false or "auto"; got ${JSON.stringify(secureCookies)}.`);
  }
  const clock = options.clock;
  return {
    broker: options.broker,
    services,
    users,
    tokens,
    sessionTtlMs: duration('auth.sessionTtl', auth.sessionTtl, 8 * 3_600_000, 1_000),
    idleTimeoutMs: duration('auth.idleTimeout', auth.idleTimeout, 3_600_000, 1_000),
    secureCookies,
    loginMaxFailures: integer('auth.loginRateLimit.maxFailures', auth.loginRateLimit?.maxFailures, 5, 1, 10_000),
    loginWindowMs: duration('auth.loginRateLimit.window', auth.loginRateLimit?.window, 5 * 60_000, 1_000),
    storeFile: options.storeFile,
    consumers: options.consumers ?? [],
    discoverConsumers: options.discoverConsumers ?? true,
    dedupWindows,
    defaultDedupWindowMs: window('defaultDedupWindow', options.defaultDedupWindow, SEVEN_DAYS),
    stuckAfterMs: duration('stuckAfter', options.stuckAfter, 5 * 60_000),
    retry: {
      defaultRatePerSec,
      maxRatePerSec,
      maxMessages: integer('bulkRetry.maxMessages', retry.maxMessages, 10_000, 1, 1_000_000),
      maxConcurrentJobs: integer('bulkRetry.maxConcurrentJobs', retry.maxConcurrentJobs, 2, 1, 64),
    },
    sampling,
    auditRetentionMs: duration('auditRetention', options.auditRetention, 400 * 24 * 3_600_000),
    bodyLimitBytes: integer('bodyLimitBytes', options.bodyLimitBytes, 1024 * 1024, 1024, 64 * 1024 * 1024),
    now: clock ? () => clock.now() : Date.now,
  };
}

function checkRole(what: string, role: unknown): asserts role is ConsoleRole {
  if (!CONSOLE_ROLES.includes(role as ConsoleRole)) {
    fix(`${what}: role must be one of ${CONSOLE_ROLES.join(', ')}; got ${JSON.stringify(role)}.`);
  }
}

/** The mount path as Nest's router wants it: no leading or trailing slash. */
export function normaliseMountPath(path: string | undefined): string {
  const value = path ?? DEFAULT_MOUNT_PATH;
  if (
    typeof value !== 'string' ||
    !/^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/.test(value) ||
    value.split('/').some((segment) => segment === '.' || segment === '..')
  ) {
    fix(`path must be a URL path such as "/console" or "/ops/console"; got ${JSON.stringify(path)}.`);
  }
  return value.replace(/^\/+|\/+$/g, '');
}
