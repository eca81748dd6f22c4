import { parseDuration, type EngineOptions, type FlushMode } from '@reliable-mq/engine';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import {
  DEFAULT_BROKER_HOST,
  DEFAULT_BROKER_PORT,
  DEFAULT_MAX_FRAME_BYTES,
  MAX_FRAME_BYTES_CEILING,
} from '@reliable-mq/protocol';

/** Everything the broker server needs to start; `readBrokerConfig` builds it from the environment. */
export interface BrokerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  /** Clients must present it in `hello`. null only with `allowNoToken` on a loopback host. */
  token: string | null;
  /**
   * Token of operators: it is accepted wherever `token` is, and it alone may run the backlog actions (expand queues,
   * redistribute a backlog, reset offsets). null: only a broker without any token runs them.
   */
  adminToken: string | null;
  allowNoToken: boolean;
  flush: FlushMode;
  /** Topics created at startup, with an optional queue count. */
  topics: Array<{ name: string; queueCount?: number }>;
  /** Other engine options (timeouts, limits); BROKER_ENGINE_OPTIONS. */
  engine: Omit<EngineOptions, 'dataDir' | 'flush' | 'clock' | 'onError' | 'onWarning'>;
  maxFrameBytes: number;
  /** Clients ping this often; announced in the hello reply. */
  heartbeatMs: number;
  /** A connection that sent nothing for this long is closed (half-open peers, idle clients). */
  idleTimeoutMs: number;
  /** Time allowed between accepting a connection and a valid hello. */
  handshakeTimeoutMs: number;
  /** Time allowed for one frame to arrive whole once its first byte came (slow-drip senders). */
  frameTimeoutMs: number;
  /** Connections whose hello passed. */
  maxConnections: number;
  /** Connections whose hello passed, per remote address. */
  maxConnectionsPerClient: number;
  /**
   * Connections waiting for their hello to be answered, counted apart from the others. Over it, the oldest one that
   * has sent nothing is closed to make room.
   */
  maxHandshakes: number;
  /** The same per remote address. */
  maxHandshakesPerClient: number;
  /** Wrong tokens an address may present at once; then one every `authFailureRefillMs`. */
  authFailureBurst: number;
  authFailureRefillMs: number;
  /** Requests of one connection being processed at once; reading pauses beyond it (pipelining back-pressure). */
  maxInflightRequests: number;
  /**
   * Bytes queued to a client. Queued output that stays above this without shrinking for `idleTimeoutMs` closes the
   * connection (a client that does not read); four times this closes it at once.
   */
  maxWriteBufferBytes: number;
  /** How long a producer has to answer a checkback before it counts as `unknown`. */
  checkTimeoutMs: number;
  /** How long a forwarded `payload.validate` waits for the member's answer before it is `unavailable`. */
  validateTimeoutMs: number;
  /** HTTP health/readiness endpoint; null turns it off. */
  healthPort: number | null;
  /** Bound on the graceful shutdown. */
  shutdownTimeoutMs: number;
}

export const BROKER_DEFAULTS = {
  dataDir: 'data/broker',
  heartbeatMs: 5_000,
  idleTimeoutMs: 20_000,
  handshakeTimeoutMs: 5_000,
  frameTimeoutMs: 30_000,
  maxConnections: 1_024,
  maxConnectionsPerClient: 128,
  maxHandshakes: 256,
  maxHandshakesPerClient: 16,
  authFailureBurst: 10,
  authFailureRefillMs: 1_000,
  maxInflightRequests: 256,
  maxWriteBufferBytes: 64 * 1024 * 1024,
  checkTimeoutMs: 10_000,
  validateTimeoutMs: 5_000,
  shutdownTimeoutMs: 15_000,
} as const;

/** The environment variables the broker reads; printed with configuration errors. */
export const BROKER_ENV_HELP = [
  `BROKER_HOST                interface to listen on (default ${DEFAULT_BROKER_HOST})`,
  `BROKER_PORT                TCP port (default ${DEFAULT_BROKER_PORT}; 0 picks a free one)`,
  `BROKER_DATA_DIR            engine data directory (default ./${BROKER_DEFAULTS.dataDir})`,
  'BROKER_TOKEN               token clients must present (required)',
  'BROKER_ALLOW_NO_TOKEN      "true" runs without a token; only on a loopback host, with a warning',
  'BROKER_ADMIN_TOKEN         token of operators, needed for backlog actions (expand, redistribute, reset offsets)',
  'BROKER_FLUSH               "sync" (default: confirm after fsync) or "async"',
  'BROKER_TOPICS              topics created at startup: "order.created,payment.succeeded:8" (name[:queues])',
  `BROKER_HEALTH_PORT         HTTP health endpoint port (default BROKER_PORT + 1; "off" disables)`,
  `BROKER_MAX_FRAME_BYTES     largest frame (default ${DEFAULT_MAX_FRAME_BYTES})`,
  `BROKER_MAX_CONNECTIONS     total connections (default ${BROKER_DEFAULTS.maxConnections})`,
  `BROKER_MAX_CONNECTIONS_PER_CLIENT  per remote address (default ${BROKER_DEFAULTS.maxConnectionsPerClient})`,
  `BROKER_HEARTBEAT_MS        client ping interval (default ${BROKER_DEFAULTS.heartbeatMs})`,
  `BROKER_IDLE_TIMEOUT_MS     silent connections are closed after this (default ${BROKER_DEFAULTS.idleTimeoutMs})`,
  `BROKER_VALIDATE_TIMEOUT_MS a consumer's answer to a payload check is awaited this long (default ${BROKER_DEFAULTS.validateTimeoutMs})`,
  'BROKER_HALF_RETENTION      records of resolved half messages are deleted this long after resolution (default 7d; "keep" keeps them)',
  'BROKER_ENGINE_OPTIONS      JSON of other engine options, e.g. {"sessionTimeoutMs":30000}',
];

export type BrokerConfigResult = { ok: true; config: BrokerConfig } | { ok: false; errors: string[] };

const ENGINE_OPTION_NAMES = new Set([
  'defaultQueueCount',
  'autoCreateTopics',
  'maxBodyBytes',
  'maxBatchSize',
  'retentionMs',
  'retentionChunkSize',
  'retentionIntervalMs',
  'consumeTimeoutMs',
  'sessionTimeoutMs',
  'maxDatabaseBytes',
  'minFreeDiskBytes',
  'maintenanceIntervalMs',
  'delayLevels',
  'transactionTimeoutMs',
  'checkIntervalMs',
  'transactionCheckMax',
  'halfMessageRetentionMs',
]);

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Reads the broker's settings; every problem becomes one sentence saying what to change. */
export function readBrokerConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): BrokerConfigResult {
  const errors: string[] = [];
  const text = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^[0-9]+$/.test(raw) || value < min || value > max) {
      errors.push(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(env[name])}.`);
      return fallback;
    }
    return value;
  };

  const host = text('BROKER_HOST') ?? DEFAULT_BROKER_HOST;
  const port = integer('BROKER_PORT', DEFAULT_BROKER_PORT, 0, 65_535);
  const dataDir = resolve(cwd, text('BROKER_DATA_DIR') ?? BROKER_DEFAULTS.dataDir);
  const token = env.BROKER_TOKEN !== undefined && env.BROKER_TOKEN !== '' ? env.BROKER_TOKEN : null;
  const allowRaw = text('BROKER_ALLOW_NO_TOKEN');
  if (allowRaw !== undefined && allowRaw !== 'true' && allowRaw !== 'false') {
    errors.push(`BROKER_ALLOW_NO_TOKEN must be "true" or "false"; got ${JSON.stringify(allowRaw)}.`);
  }
  const allowNoToken = allowRaw === 'true';
  if (token === null) {
    if (!allowNoToken) {
      errors.push(
        'BROKER_TOKEN is not set. Set it to a long random secret that clients also get (BROKER_TOKEN / transport.token).',
      );
    } else if (!isLoopbackHost(host)) {
      errors.push(
        `BROKER_ALLOW_NO_TOKEN=true is only allowed on a loopback host; BROKER_HOST is ${host}. Set BROKER_TOKEN, or bind to 127.0.0.1.`,
      );
    }
  } else if (token.length < 8 || token.length > 1024) {
    errors.push('BROKER_TOKEN must be 8 to 1024 characters long.');
  }
  const adminToken =
    env.BROKER_ADMIN_TOKEN !== undefined && env.BROKER_ADMIN_TOKEN !== '' ? env.BROKER_ADMIN_TOKEN : null;
  if (adminToken !== null && (adminToken.length < 8 || adminToken.length > 1024)) {
    errors.push('BROKER_ADMIN_TOKEN must be 8 to 1024 characters long.');
  } else if (adminToken !== null && adminToken === token) {
    errors.push(
      'BROKER_ADMIN_TOKEN must differ from BROKER_TOKEN: the services hold BROKER_TOKEN, operators the other.',
    );
  }
  const flushRaw = text('BROKER_FLUSH') ?? 'sync';
  if (flushRaw !== 'sync' && flushRaw !== 'async')
    errors.push(`BROKER_FLUSH must be "sync" or "async"; got ${JSON.stringify(flushRaw)}.`);

  const topics: BrokerConfig['topics'] = [];
  for (const entry of (text('BROKER_TOPICS') ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const [name, count] = entry.split(':');
    if (count !== undefined && !/^[0-9]+$/.test(count)) {
      errors.push(`BROKER_TOPICS entry ${JSON.stringify(entry)} must be name or name:queueCount.`);
      continue;
    }
    topics.push({ name: name!, ...(count !== undefined ? { queueCount: Number(count) } : {}) });
  }

  let engine: BrokerConfig['engine'] = {};
  const engineRaw = text('BROKER_ENGINE_OPTIONS');
  if (engineRaw !== undefined) {
    try {
      const parsed = JSON.parse(engineRaw) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      const unknown = Object.keys(parsed).filter((key) => !ENGINE_OPTION_NAMES.has(key));
      if (unknown.length > 0) errors.push(`BROKER_ENGINE_OPTIONS has unknown options: ${unknown.join(', ')}.`);
      engine = parsed as BrokerConfig['engine'];
    } catch (error) {
      errors.push(`BROKER_ENGINE_OPTIONS must be a JSON object of engine options; ${(error as Error).message}.`);
    }
  }

  const halfRetentionRaw = text('BROKER_HALF_RETENTION');
  if (halfRetentionRaw !== undefined) {
    const retention = readHalfRetention(halfRetentionRaw);
    if (typeof retention === 'string') errors.push(retention);
    else if ('halfMessageRetentionMs' in engine) {
      errors.push('BROKER_HALF_RETENTION and BROKER_ENGINE_OPTIONS.halfMessageRetentionMs are both set; keep one.');
    } else engine = { ...engine, halfMessageRetentionMs: retention };
  }

  const healthRaw = text('BROKER_HEALTH_PORT');
  let healthPort: number | null = port === 0 ? 0 : Math.min(port + 1, 65_535);
  if (healthRaw === 'off') healthPort = null;
  else if (healthRaw !== undefined) healthPort = integer('BROKER_HEALTH_PORT', 0, 0, 65_535);

  const heartbeatMs = integer('BROKER_HEARTBEAT_MS', BROKER_DEFAULTS.heartbeatMs, 100, 600_000);
  const idleTimeoutMs = integer('BROKER_IDLE_TIMEOUT_MS', BROKER_DEFAULTS.idleTimeoutMs, 300, 3_600_000);
  if (idleTimeoutMs < heartbeatMs * 2) {
    errors.push(
      `BROKER_IDLE_TIMEOUT_MS (${idleTimeoutMs}) must be at least twice BROKER_HEARTBEAT_MS (${heartbeatMs}).`,
    );
  }
  const config: BrokerConfig = {
    host,
    port,
    dataDir,
    token,
    adminToken,
    allowNoToken,
    flush: flushRaw as FlushMode,
    topics,
    engine,
    maxFrameBytes: integer('BROKER_MAX_FRAME_BYTES', DEFAULT_MAX_FRAME_BYTES, 1024, MAX_FRAME_BYTES_CEILING),
    heartbeatMs,
    idleTimeoutMs,
    handshakeTimeoutMs: BROKER_DEFAULTS.handshakeTimeoutMs,
    frameTimeoutMs: BROKER_DEFAULTS.frameTimeoutMs,
    maxConnections: integer('BROKER_MAX_CONNECTIONS', BROKER_DEFAULTS.maxConnections, 1, 100_000),
    maxConnectionsPerClient: integer(
      'BROKER_MAX_CONNECTIONS_PER_CLIENT',
      BROKER_DEFAULTS.maxConnectionsPerClient,
      1,
      100_000,
    ),
    maxHandshakes: BROKER_DEFAULTS.maxHandshakes,
    maxHandshakesPerClient: BROKER_DEFAULTS.maxHandshakesPerClient,
    authFailureBurst: BROKER_DEFAULTS.authFailureBurst,
    authFailureRefillMs: BROKER_DEFAULTS.authFailureRefillMs,
    maxInflightRequests: BROKER_DEFAULTS.maxInflightRequests,
    maxWriteBufferBytes: BROKER_DEFAULTS.maxWriteBufferBytes,
    checkTimeoutMs: BROKER_DEFAULTS.checkTimeoutMs,
    validateTimeoutMs: integer('BROKER_VALIDATE_TIMEOUT_MS', BROKER_DEFAULTS.validateTimeoutMs, 100, 60_000),
    healthPort,
    shutdownTimeoutMs: BROKER_DEFAULTS.shutdownTimeoutMs,
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

/** BROKER_HALF_RETENTION as milliseconds (null for "keep"), or the sentence saying what is wrong. */
function readHalfRetention(raw: string): number | null | string {
  if (raw === 'keep') return null;
  const problem = `BROKER_HALF_RETENTION must be a duration of at least 1 ms such as "7d", "12h" or "86400000", or "keep"; got ${JSON.stringify(raw)}.`;
  let ms: number;
  try {
    ms = parseDuration(/^[0-9]+$/.test(raw) ? Number(raw) : raw, 'BROKER_HALF_RETENTION');
  } catch {
    return problem;
  }
  return ms >= 1 && Number.isSafeInteger(ms) ? ms : problem;
}

/** A config for code that starts the server itself (tests, the sample): defaults plus what it overrides. */
export function brokerConfig(overrides: Partial<BrokerConfig> & Pick<BrokerConfig, 'dataDir'>): BrokerConfig {
  return {
    host: DEFAULT_BROKER_HOST,
    port: DEFAULT_BROKER_PORT,
    token: null,
    adminToken: null,
    allowNoToken: false,
    flush: 'sync',
    topics: [],
    engine: {},
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    heartbeatMs: BROKER_DEFAULTS.heartbeatMs,
    idleTimeoutMs: BROKER_DEFAULTS.idleTimeoutMs,
    handshakeTimeoutMs: BROKER_DEFAULTS.handshakeTimeoutMs,
    frameTimeoutMs: BROKER_DEFAULTS.frameTimeoutMs,
    maxConnections: BROKER_DEFAULTS.maxConnections,
    maxConnectionsPerClient: BROKER_DEFAULTS.maxConnectionsPerClient,
    maxHandshakes: BROKER_DEFAULTS.maxHandshakes,
    maxHandshakesPerClient: BROKER_DEFAULTS.maxHandshakesPerClient,
    authFailureBurst: BROKER_DEFAULTS.authFailureBurst,
    authFailureRefillMs: BROKER_DEFAULTS.authFailureRefillMs,
    maxInflightRequests: BROKER_DEFAULTS.maxInflightRequests,
    maxWriteBufferBytes: BROKER_DEFAULTS.maxWriteBufferBytes,
    checkTimeoutMs: BROKER_DEFAULTS.checkTimeoutMs,
    validateTimeoutMs: BROKER_DEFAULTS.validateTimeoutMs,
    healthPort: null,
    shutdownTimeoutMs: BROKER_DEFAULTS.shutdownTimeoutMs,
    ...overrides,
  };
}
