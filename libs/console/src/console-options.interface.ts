import type { EngineStats } from '@reliable-mq/engine';
import type { DeadLetterOperations, PayloadSchema, TransactionalOperations } from '@reliable-mq/nestjs';
import type { ConsumerPayloadCheck } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';

/** `viewer` reads; `operator` also retries, edits and discards; `admin` also manages users and settings. */
export type ConsoleRole = 'viewer' | 'operator' | 'admin';

export const CONSOLE_ROLES: readonly ConsoleRole[] = ['viewer', 'operator', 'admin'];

/** A login configured by the host. `passwordHash` comes from `hashConsolePassword` (`npm run console -- hash-password`). */
export interface ConsoleUserConfig {
  username: string;
  passwordHash: string;
  role: ConsoleRole;
}

/**
 * A bearer token for scripts (`Authorization: Bearer <token>`). Only its hash is configured:
 * `sha256:<hex of SHA-256 of the token>`, as printed by `npm run console -- new-token`.
 */
export interface ConsoleTokenConfig {
  name: string;
  tokenHash: string;
  role: ConsoleRole;
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
  /**
   * Failed logins allowed per username within `window` (default 5 per 5 min); a client address may fail four times
   * as often. Past either, logins are answered 429 until the window has passed.
   */
  loginRateLimit?: { maxFailures?: number; window?: number | string };
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
  };
  stats?: () => EngineStats | Promise<EngineStats>;
  /**
   * Asks a live consumer of `group` on `topic` whether its handler would accept `payload` (the JSON text that would
   * be sent), checked with its DTO or schema. For consoles that know no handler classes, such as the standalone
   * console on the remote broker (`RemoteTransport.validatePayload`). Used only when no handler of the group is
   * known here; `unavailable` makes an edit need explicit confirmation.
   */
  validatePayload?: (group: string, topic: string, payload: string) => Promise<ConsumerPayloadCheck>;
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
  /** Largest request body in bytes; larger ones are answered 413. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Source of the current time; tests pin it. */
  clock?: { now(): number };
}
