import { DEFAULT_DELAY_LEVELS, parseDelayLevels, parseDuration, validateName } from '@reliable-mq/engine';
import { ConfigurationError } from '../../errors/configuration.error';
import { SLOT_COUNT } from './rabbitmq-names';
import type { RabbitMqTransportOptions } from './rabbitmq-transport-options';

export interface ResolvedRabbitMqOptions {
  /** The first node's URL. */
  url: string;
  /** Every node's URL, in the order given: connections try them in turn. */
  urls: string[];
  /** The URLs with their passwords replaced, comma-separated, for messages and logs. */
  safeUrl: string;
  /**
   * `x-quorum-initial-group-size` of the quorum queues this transport creates; undefined leaves the replica count to
   * RabbitMQ's own default.
   */
  quorumReplicas: number | undefined;
  topics: Map<string, number>;
  orderlyQueueCount: number;
  prefix: string;
  unroutable: 'park' | 'reject';
  delayLevels: string;
  orderlyRetryPauseMs: number;
  heartbeatSeconds: number;
  waitForConnection: boolean;
  connectTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  publishTimeoutMs: number;
  broadcastQueueExpiresMs: number;
  auditMaxLength: number;
  scanLimit: number;
  deadLetterGroups: string[];
  transactionTimeoutMs: number;
  checkIntervalMs: number;
  transactionCheckMax: number;
  halfMessageRetentionMs: number | null;
  connectionName: string | undefined;
}

const fix = (problem: string): never => {
  throw new ConfigurationError(`ReliableMqModule: transport (rabbitmq): ${problem}`);
};

function duration(name: string, value: number | string | undefined, fallback: number, min = 0): number {
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

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fix(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value as number;
}

/**
 * `amqp://guest:secret@host` → `amqp://guest:***@host`, so that URLs can be printed; every URL of a comma-separated
 * list is redacted.
 */
export function redactUrl(url: string): string {
  // A password ends at the `@` of its own URL, never at one of the next URL in the list.
  return url.replace(/(^|,\s*)([a-z][a-z0-9+.-]*:\/\/[^:/@,]*:)(?:(?!,\s*[a-z][a-z0-9+.-]*:\/\/)[^@])*@/gi, '$1$2***@');
}

/**
 * The node URLs of a RabbitMQ cluster, from `url` or RABBITMQ_URL: an array, a comma-separated list, or one URL.
 * A list is cut only at commas followed by a scheme (`amqp://`, `amqps://`, or a wrong one, to be refused by name),
 * so a password holding a comma stays in its URL.
 * Blank entries and repeated URLs are dropped; the order is kept.
 */
export function splitRabbitMqUrls(value: string | readonly string[]): string[] {
  const urls: string[] = [];
  for (const entry of typeof value === 'string' ? [value] : value) {
    if (typeof entry !== 'string') continue;
    for (const piece of entry.split(/,\s*(?=[a-z][a-z0-9+.-]*:\/\/)/i)) {
      const url = piece.trim().replace(/[\s,]+$/, '');
      if (url !== '') urls.push(url);
    }
  }
  return [...new Set(urls)];
}

/** The host and port of a URL: what follows its last `@` up to the path. */
function hostOf(url: string): string {
  const authority = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  return authority.slice(authority.lastIndexOf('@') + 1);
}

/** Quorum queues spread over this many nodes by default once the cluster is known to have that many. */
export const DEFAULT_QUORUM_REPLICAS = 3;

/**
 * Checks the RabbitMQ transport options and fills in defaults. Every problem is one sentence that says what to
 * change; `env` supplies RABBITMQ_URL when `url` is absent.
 */
export function resolveRabbitMqOptions(
  options: RabbitMqTransportOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedRabbitMqOptions {
  const given = options.url ?? env.RABBITMQ_URL;
  if (Array.isArray(given) && given.some((entry) => typeof entry !== 'string')) {
    fix('url must be a string or an array of strings, one per RabbitMQ node.');
  }
  const urls = typeof given === 'string' || Array.isArray(given) ? splitRabbitMqUrls(given) : [];
  if (urls.length === 0) {
    fix(
      'set `url` (e.g. "amqp://guest:guest@127.0.0.1:5672", or an array of node URLs for a cluster) or the ' +
        'RABBITMQ_URL environment variable (node URLs separated by commas).',
    );
  }
  urls.forEach((url, index) => {
    const which = urls.length > 1 ? ` (node ${index + 1} of ${urls.length})` : '';
    if (!/^amqps?:\/\/[^/]/i.test(url)) {
      fix(
        `url${which} must start with amqp:// or amqps://, e.g. "amqp://guest:guest@127.0.0.1:5672"; got ` +
          `${JSON.stringify(redactUrl(url))}.`,
      );
    }
    if (/[\s,]/.test(hostOf(url))) {
      fix(
        `url${which} has a comma or a space in its host (${JSON.stringify(redactUrl(url))}): separate node URLs ` +
          'with commas and start each with amqp:// or amqps://, e.g. "amqp://rabbit-1:5672,amqp://rabbit-2:5672".',
      );
    }
  });
  // Several URLs tell us the cluster has at least that many nodes; one URL may be a single node (or a balancer),
  // whose queues keep RabbitMQ's own default so that they are declared exactly as before.
  const quorumReplicas =
    options.quorumReplicas === undefined
      ? urls.length >= DEFAULT_QUORUM_REPLICAS
        ? DEFAULT_QUORUM_REPLICAS
        : undefined
      : integer('quorumReplicas', options.quorumReplicas, 0, 1, 255);
  const prefix = options.prefix ?? 'rmq';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9._-]{1,32}$/.test(prefix) || prefix.startsWith('amq.')) {
    fix(
      `prefix must be 1–32 letters, digits, ".", "_" or "-" and must not start with "amq."; got ${JSON.stringify(prefix)}.`,
    );
  }
  const orderlyQueueCount = integer('orderlyQueueCount', options.orderlyQueueCount, 4, 1, SLOT_COUNT);
  const topics = new Map<string, number>();
  if (options.topics !== undefined && !Array.isArray(options.topics)) {
    fix('topics must be an array of names or { name, queueCount } objects.');
  }
  for (const entry of options.topics ?? []) {
    const name = typeof entry === 'string' ? entry : entry?.name;
    try {
      validateName('topic', name);
    } catch (error) {
      fix(`topics: ${(error as Error).message}`);
    }
    const count = typeof entry === 'string' ? undefined : entry.queueCount;
    topics.set(name!, integer(`queueCount of topic "${name}"`, count, orderlyQueueCount, 1, SLOT_COUNT));
  }
  const unroutable = options.unroutable ?? 'park';
  if (unroutable !== 'park' && unroutable !== 'reject') {
    fix(`unroutable must be "park" or "reject"; got ${JSON.stringify(unroutable)}.`);
  }
  const delayLevels = options.delayLevels ?? DEFAULT_DELAY_LEVELS;
  try {
    parseDelayLevels(delayLevels);
  } catch (error) {
    fix(`delayLevels: ${(error as Error).message}`);
  }
  const reconnect = options.reconnect ?? {};
  const reconnectInitialMs = duration('reconnect.initialDelayMs', reconnect.initialDelayMs, 250, 1);
  const reconnectMaxMs = duration('reconnect.maxDelayMs', reconnect.maxDelayMs, 10_000, 1);
  if (reconnectMaxMs < reconnectInitialMs) fix('reconnect.maxDelayMs must not be below reconnect.initialDelayMs.');
  const deadLetters = options.deadLetters ?? {};
  const deadLetterGroups = deadLetters.groups ?? [];
  if (!Array.isArray(deadLetterGroups)) fix('deadLetters.groups must be an array of group names.');
  for (const group of deadLetterGroups) {
    try {
      validateName('group', group);
    } catch (error) {
      fix(`deadLetters.groups: ${(error as Error).message}`);
    }
  }
  const transactions = options.transactions ?? {};
  if (options.waitForConnection !== undefined && typeof options.waitForConnection !== 'boolean') {
    fix(
      `waitForConnection must be true (startup waits for RabbitMQ) or false (it starts without it); got ${JSON.stringify(options.waitForConnection)}.`,
    );
  }
  if (options.connectionName !== undefined && typeof options.connectionName !== 'string') {
    fix('connectionName must be a string.');
  }
  return {
    url: urls[0]!,
    urls,
    safeUrl: urls.map(redactUrl).join(', '),
    quorumReplicas,
    topics,
    orderlyQueueCount,
    prefix,
    unroutable,
    delayLevels,
    orderlyRetryPauseMs: duration('orderlyRetryPauseMs', options.orderlyRetryPauseMs, 1000),
    heartbeatSeconds: integer('heartbeatSeconds', options.heartbeatSeconds, 5, 0, 600),
    waitForConnection: options.waitForConnection ?? false,
    connectTimeoutMs: duration('connectTimeoutMs', options.connectTimeoutMs, 15_000),
    reconnectInitialMs,
    reconnectMaxMs,
    publishTimeoutMs: duration('publishTimeoutMs', options.publishTimeoutMs, 30_000, 1),
    broadcastQueueExpiresMs: duration('broadcastQueueExpiresMs', options.broadcastQueueExpiresMs, 30 * 60_000, 1000),
    auditMaxLength: integer('deadLetters.auditMaxLength', deadLetters.auditMaxLength, 10_000, 1, 10_000_000),
    scanLimit: integer('deadLetters.scanLimit', deadLetters.scanLimit, 10_000, 1, 1_000_000),
    deadLetterGroups: [...deadLetterGroups],
    transactionTimeoutMs: duration('transactions.transactionTimeoutMs', transactions.transactionTimeoutMs, 6000),
    checkIntervalMs: duration('transactions.checkIntervalMs', transactions.checkIntervalMs, 30_000, 1),
    transactionCheckMax: integer('transactions.transactionCheckMax', transactions.transactionCheckMax, 15, 1, 1000),
    halfMessageRetentionMs:
      transactions.halfMessageRetentionMs === null
        ? null
        : duration(
            'transactions.halfMessageRetentionMs',
            transactions.halfMessageRetentionMs,
            7 * 24 * 3_600_000,
            1000,
          ),
    connectionName: options.connectionName,
  };
}
