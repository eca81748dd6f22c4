import { optionChecks } from '@reliable-mq/engine';
import { ConfigurationError } from '@reliable-mq/nestjs';
import {
  CONSOLE_PERMISSIONS,
  CONSOLE_ROLES,
  type ConsoleConsumerInfo,
  type ConsoleRole,
  type ConsoleServiceDatabase,
  type ConsoleTokenConfig,
  type ConsoleUserConfig,
  type ReliableMqConsoleOptions,
} from './console-options.interface';
import { isPasswordHash } from './auth/password-hash';
import { parseRedactionRule, type RedactionRule } from './redaction/payload-redactor';

export const DEFAULT_MOUNT_PATH = '/console';
const SEVEN_DAYS = 7 * 24 * 3_600_000;

export interface ResolvedLoginLimits {
  /** Failures per username and address in the window. */
  maxFailures: number;
  /** Failures per address, across usernames. */
  addressMaxFailures: number;
  /** Failures per username, across addresses it has not logged in from before. */
  userMaxFailures: number;
  windowMs: number;
  knownAddressTtlMs: number;
  concurrentChecks: number;
  queuedChecks: number;
  maxCheckWaitMs: number;
  maxChecksPerAddress: number;
}

export interface ResolvedConsoleOptions {
  broker: ReliableMqConsoleOptions['broker'];
  services: ConsoleServiceDatabase[];
  users: ConsoleUserConfig[];
  tokens: ConsoleTokenConfig[];
  sessionTtlMs: number;
  idleTimeoutMs: number;
  secureCookies: boolean | 'auto';
  login: ResolvedLoginLimits;
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
  redact: RedactionRule[];
  now: () => number;
}

function fix(problem: string): never {
  throw new ConfigurationError(`ReliableMqConsoleModule: ${problem}`);
}

const checks = optionChecks(fix);
const integer = checks.integer;
/** Durations of the console are at least 1 ms unless said otherwise. */
const duration = (name: string, value: number | string | undefined, fallback: number, min = 1): number =>
  checks.duration(name, value, fallback, min);

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
  const backlog = options.broker?.backlog as { report?: unknown } | undefined;
  if (
    backlog !== undefined &&
    (typeof backlog !== 'object' || backlog === null || typeof backlog.report !== 'function')
  ) {
    fix(
      'broker.backlog must be a backlog source with a report() function (engineBacklogSource(engine), remoteTransport.backlog), or left out.',
    );
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
    checkPermissions(`auth.users "${user.username}"`, user.permissions);
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
    checkPermissions(`auth.tokens "${token.name}"`, token.permissions);
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
  if (options.redact !== undefined && !Array.isArray(options.redact)) {
    fix('redact must be a list of payload field paths, e.g. ["card", { path: "iban", showLast: 4 }].');
  }
  const redact = (options.redact ?? []).map((entry) => {
    const rule = parseRedactionRule(entry);
    if (!rule) {
      fix(
        `redact: ${JSON.stringify(entry)} must be a field path such as "card" or "customer.email" ("*" for any field), ` +
          'or { path, showLast } with showLast from 0 to 8.',
      );
    }
    return rule!;
  });
  const clock = options.clock;
  return {
    broker: options.broker,
    services,
    users,
    tokens,
    sessionTtlMs: duration('auth.sessionTtl', auth.sessionTtl, 8 * 3_600_000, 1_000),
    idleTimeoutMs: duration('auth.idleTimeout', auth.idleTimeout, 3_600_000, 1_000),
    secureCookies,
    login: loginLimits(auth.loginRateLimit ?? {}),
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
    redact,
    now: clock ? () => clock.now() : Date.now,
  };
}

function loginLimits(limits: NonNullable<ReliableMqConsoleOptions['auth']['loginRateLimit']>): ResolvedLoginLimits {
  const name = (field: string): string => `auth.loginRateLimit.${field}`;
  const maxFailures = integer(name('maxFailures'), limits.maxFailures, 5, 1, 10_000);
  const userMaxFailures = integer(name('userMaxFailures'), limits.userMaxFailures, maxFailures * 10, 1, 1_000_000);
  if (userMaxFailures < maxFailures) {
    fix(
      `${name('userMaxFailures')} (${userMaxFailures}) is below ${name('maxFailures')} (${maxFailures}); ` +
        'the per-user limit is the softer one.',
    );
  }
  return {
    maxFailures,
    addressMaxFailures: maxFailures * 4,
    userMaxFailures,
    windowMs: duration(name('window'), limits.window, 5 * 60_000, 1_000),
    knownAddressTtlMs: duration(name('knownAddressTtl'), limits.knownAddressTtl, 30 * 24 * 3_600_000, 60_000),
    concurrentChecks: integer(name('concurrentChecks'), limits.concurrentChecks, 2, 1, 64),
    queuedChecks: integer(name('queuedChecks'), limits.queuedChecks, 16, 0, 10_000),
    maxCheckWaitMs: duration(name('maxCheckWait'), limits.maxCheckWait, 5_000, 100),
    maxChecksPerAddress: integer(name('maxChecksPerAddress'), limits.maxChecksPerAddress, 2, 1, 64),
  };
}

function checkPermissions(what: string, permissions: unknown): void {
  if (permissions === undefined) return;
  if (!Array.isArray(permissions) || permissions.some((entry) => !CONSOLE_PERMISSIONS.includes(entry))) {
    fix(
      `${what}: permissions must be a list of ${CONSOLE_PERMISSIONS.join(', ')}; got ${JSON.stringify(permissions)}.`,
    );
  }
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
