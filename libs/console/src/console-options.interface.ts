import type { EngineStats } from '@reliable-mq/engine';
import type { DeadLetterOperations, PayloadSchema, TransactionalOperations } from '@reliable-mq/nestjs';
import type { ConsumerPayloadCheck } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';
import type { ConsoleBacklogSource } from './backlog/backlog-source.interface';

/** `viewer` reads; `operator` also retries, edits and discards; `admin` also manages users and settings. */
export type ConsoleRole = 'viewer' | 'operator' | 'admin';

export const CONSOLE_ROLES: readonly ConsoleRole[] = ['viewer', 'operator', 'admin'];

/**
 * Rights beside the role. `reveal`: see the real value of masked payload fields (`redact`), each time with a reason,
 * audited. Given only in the configuration, never by an admin in the console, and not implied by any role.
 */
export type ConsolePermission = 'reveal';

export const CONSOLE_PERMISSIONS: readonly ConsolePermission[] = ['reveal'];

/** A login configured by the host. `passwordHash` comes from `hashConsolePassword` (`npm run console -- hash-password`). */
export interface ConsoleUserConfig {
  username: string;
  passwordHash: string;
  role: ConsoleRole;
  permissions?: ConsolePermission[];
}

/**
 * A bearer token for scripts (`Authorization: Bearer <token>`). Only its hash is configured:
 * `sha256:<hex of SHA-256 of the token>`, as printed by `npm run console -- new-token`.
 */
export interface ConsoleTokenConfig {
  name: string;
  tokenHash: string;
  role: ConsoleRole;
  permissions?: ConsolePermission[];
}

/**
 * Login throttling. Every attempt is counted before its password is checked, so parallel guesses cannot outrun it.
 * Past a limit, logins get 429 with `Retry-After` until enough failures leave the window, even with the right
 * password.
 */
export interface ConsoleLoginRateLimit {
  /** Failures per username and client address within `window`. Default 5. An address gets 4× across usernames. */
  maxFailures?: number;
  /**
   * Failures per username from addresses it has not logged in from before, within `window`. Default
   * 10 × `maxFailures`. Addresses the user logged in from (within `knownAddressTtl`) are not held by it, so
   * strangers guessing cannot lock the user out of them.
   */
  userMaxFailures?: number;
  /** Default 5 min. */
  window?: number | string;
  /** How long an address stays known for a user after a successful login. Default 30 days. */
  knownAddressTtl?: number | string;
  /** Password hashes running at once (each takes 32 MiB and tens of ms of a core). Default 2. */
  concurrentChecks?: number;
  /** Checks waiting for a free slot, per lane; past it, 503 with `Retry-After`. Default 16. */
  queuedChecks?: number;
  /** Longest wait for a slot before 503. Default 5 s. */
  maxCheckWait?: number | string;
  /** Checks one address may have running or waiting at once; past it, 429. Default 2. */
  maxChecksPerAddress?: number;
}

export interface ConsoleAuthOptions {
  users?: ConsoleUserConfig[];
  tokens?: ConsoleTokenConfig[];
  /** Absolute lifetime of a login session. Default 8 h. */
  sessionTtl?: number | string;
  /** A session unused this long ends. Default 1 h. */
  idleTimeout?: number | string;
  /** `auto` (default): the cookie is `Secure` when the request came over HTTPS (`req.secure`). */
  secureCookies?: boolean | 'auto';
  /** Login throttling and the cap on password checks running at once; see ConsoleLoginRateLimit. */
  loginRateLimit?: ConsoleLoginRateLimit;
}

/**
 * The broker side of the console, written against the transport interface so that every transport plugs in:
 * dead letters always, half messages when the transport has them, and engine statistics when the broker can give
 * them (the embedded engine's `stats()`, later the remote broker's).
 */
export interface ConsoleBrokerSource {
  transport: {
    readonly kind: string;
    readonly deadLetters: DeadLetterOperations;
    readonly transactions?: TransactionalOperations;
    /**
     * The transport's connection state, when it reports one (the remote and RabbitMQ transports do): while it is
     * false, pages say since when the broker is unreachable, and the overview shows what the databases hold.
     */
    readonly isConnected?: boolean;
    onConnectionChange?(listener: (connected: boolean) => void): () => void;
  };
  stats?: () => EngineStats | Promise<EngineStats>;
  /**
   * Asks a live consumer of `group` on `topic` whether its handler would accept `payload` (the JSON text that would
   * be sent), checked with its DTO or schema. For consoles that know no handler classes, such as the standalone
   * console on the remote broker (`RemoteTransport.validatePayload`). Used only when no handler of the group is
   * known here; `unavailable` makes an edit need explicit confirmation.
   */
  validatePayload?: (group: string, topic: string, payload: string) => Promise<ConsumerPayloadCheck>;
  /**
   * The Backlog page's source: `engineBacklogSource(engine)` for the embedded engine, `remoteTransport.backlog` for
   * the standalone broker (its actions need the broker's admin token), `rabbitMqBacklogSource(...)` for RabbitMQ
   * (report only). Without it the page says the broker gives no backlog report.
   */
  backlog?: ConsoleBacklogSource;
  /** Shown in the page header, e.g. `embedded (data/broker)`. Default: the transport's kind. */
  label?: string;
}

/** A service database whose `rmq_outbox` table the console shows. */
export interface ConsoleServiceDatabase {
  /** Unique, shown in the UI and used in API paths: letters, digits, `.`, `_`, `-`. */
  name: string;
  dataSource: DataSource;
}

/** What the console knows about a handler: edits of its messages are validated with its DTO or schema. */
export interface ConsoleConsumerInfo {
  group: string;
  topic: string;
  dto?: new (...args: never[]) => object;
  schema?: PayloadSchema;
  /** `Class.method`, for display. */
  handler?: string;
}

export interface ConsoleSamplingOptions {
  /** Time between two samples of backlog and rates. Default 15 s. */
  interval?: number | string;
  /** Samples older than this are deleted. Default 24 h. */
  retention?: number | string;
  /** Hard cap on stored sample rows; the oldest go first. Default 200,000. */
  maxRows?: number;
}

export interface ConsoleBulkRetryOptions {
  /** Rate of a bulk retry when the request gives none. Default 20 messages/s. */
  defaultRatePerSec?: number;
  /** Highest rate a request may ask for. Default 500 messages/s. */
  maxRatePerSec?: number;
  /** Most messages one "retry all matching" may take; a wider filter is refused. Default 10,000. */
  maxMessages?: number;
  /** Bulk retries running at once. Default 2. */
  maxConcurrentJobs?: number;
}

export interface ReliableMqConsoleOptions {
  broker: ConsoleBrokerSource;
  services?: ConsoleServiceDatabase[];
  auth: ConsoleAuthOptions;
  /** SQLite file of the console's own data (audit, sessions, samples, users, settings); `:memory:` in tests. */
  storeFile: string;
  /** Handlers known in addition to those discovered in the host application. */
  consumers?: ConsoleConsumerInfo[];
  /**
   * Scan the host application for `@MqConsumer` handlers and ReliableMqModule's dedup settings. Default true;
   * harmless when the host has no ReliableMqModule.
   */
  discoverConsumers?: boolean;
  /** Dedup window per consumer group; `null` means the group's dedup records never expire (the `db` store). */
  dedupWindows?: Record<string, number | string | null>;
  /** Window of groups with no known dedup settings. Default 7 d (the framework's `doneTtlMs`). `null`: none. */
  defaultDedupWindow?: number | string | null;
  /** An outbox row pending longer than this is "stuck". Default 5 min; an admin can change it. */
  stuckAfter?: number | string;
  bulkRetry?: ConsoleBulkRetryOptions;
  /** Overview charts; `false` turns sampling off. */
  sampling?: ConsoleSamplingOptions | false;
  /** Audit entries older than this are deleted. Default 400 days. */
  auditRetention?: number | string;
  /**
   * Payload fields masked for everyone, on the pages, in API answers and in the audit log: a path from the payload's
   * root (`card`, `customer.email`, `items.*.iban`; a named field reached through an array applies to each element)
   * or `{ path, showLast }` to leave the last characters visible (`{ path: 'card', showLast: 4 }` shows
   * `**** 4242`). While any is set, a payload that is not JSON is hidden whole. Users and tokens with the `reveal`
   * permission may see the real values, with a reason, audited. Default: none.
   */
  redact?: Array<string | { path: string; showLast?: number }>;
  /** Largest request body in bytes; larger ones are answered 413. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Source of the current time; tests pin it. */
  clock?: { now(): number };
}
