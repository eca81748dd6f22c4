import { parseDuration, validateName } from '@reliable-mq/engine';
import type { ConsoleTokenConfig, ConsoleUserConfig } from '@reliable-mq/console';
import { parseBrokerUrl } from '@reliable-mq/nestjs';
import { redactUrl, splitRabbitMqUrls } from '@reliable-mq/nestjs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** A service database given as `name=url`. */
export interface ServiceDatabaseConfig {
  name: string;
  type: 'better-sqlite3' | 'postgres' | 'mysql';
  /** A file for SQLite, a URL otherwise. */
  location: string;
}

/**
 * Where the console finds the broker: exactly one of an embedded broker's data directory, a standalone broker over
 * the remote transport, or RabbitMQ.
 */
export type ConsoleBrokerConfig =
  | { kind: 'embedded'; dataDir: string }
  | { kind: 'remote'; url: string; token: string | undefined; connectTimeoutMs: number }
  | { kind: 'rabbitmq'; url: string; prefix: string; groups: string[]; connectTimeoutMs: number };

export interface StandaloneConsoleConfig {
  port: number;
  host: string;
  path: string;
  broker: ConsoleBrokerConfig;
  services: ServiceDatabaseConfig[];
  users: ConsoleUserConfig[];
  tokens: ConsoleTokenConfig[];
  storeFile: string;
  dedupWindows: Record<string, number | null>;
  secureCookies: boolean | 'auto';
  /** Express `trust proxy` value; undefined trusts no proxy. */
  trustProxy?: string;
  /** Payload fields to mask (`redact` of the console module). */
  redact: Array<{ path: string; showLast: number }>;
}

export const CONSOLE_ENV_HELP = [
  'CONSOLE_PORT          port (default 3003)',
  'HOST                  interface to listen on (default 127.0.0.1)',
  'CONSOLE_PATH          mount path (default /console)',
  'Broker: exactly one of BROKER_DATA_DIR, BROKER_URL or RABBITMQ_URL (default: BROKER_DATA_DIR=./data/broker)',
  'BROKER_DATA_DIR       an embedded broker data directory, opened by this process (no other process may hold it)',
  'BROKER_URL            a standalone broker: reliable-mq://host:7420 (npm run start:broker)',
  "BROKER_TOKEN          the standalone broker's token (needed unless the broker runs without one)",
  'RABBITMQ_URL          RabbitMQ, for its DLQs: amqp://user:password@host:5672 (a cluster: node URLs separated by commas)',
  'RABBITMQ_DLQ_GROUPS   with RABBITMQ_URL: the consumer groups whose DLQs to show (comma-separated, required)',
  'RABBITMQ_PREFIX       with RABBITMQ_URL: the prefix the services use for exchanges and queues (default rmq)',
  'BROKER_CONNECT_TIMEOUT how long to try reaching BROKER_URL or RABBITMQ_URL at start (default 10s)',
  'SERVICE_DATABASES     outboxes to show: name=sqlite:path, name=postgres://..., name=mysql://... (comma-separated)',
  'CONSOLE_USERS_FILE    JSON array of { username, passwordHash, role } (required unless CONSOLE_TOKENS_FILE)',
  'CONSOLE_TOKENS_FILE   JSON array of { name, tokenHash, role } for scripts',
  "CONSOLE_STORE         the console's own SQLite file (default ./data/console.sqlite)",
  'CONSOLE_DEDUP_WINDOWS dedup window per group: group=7d, group=none (comma-separated)',
  'CONSOLE_SECURE_COOKIES true, false or auto (default auto: Secure over HTTPS)',
  'CONSOLE_TRUST_PROXY   behind a TLS-terminating proxy: its address, e.g. loopback or 10.0.0.5 (default: none)',
  'CONSOLE_REDACT        payload fields to mask: path or path:N to show the last N characters, e.g. card:4,customer.email',
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
  const broker = readBrokerSource(env, cwd, errors);
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
  const redact = readRedaction(env.CONSOLE_REDACT, errors);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      port,
      host: env.HOST?.trim() || '127.0.0.1',
      path: env.CONSOLE_PATH?.trim() || '/console',
      broker: broker!,
      services,
      users,
      tokens,
      storeFile: resolve(cwd, env.CONSOLE_STORE?.trim() || 'data/console.sqlite'),
      dedupWindows,
      secureCookies: secure === 'auto' ? 'auto' : secure === 'true',
      ...(env.CONSOLE_TRUST_PROXY?.trim() ? { trustProxy: env.CONSOLE_TRUST_PROXY.trim() } : {}),
      redact,
    },
  };
}

/** `CONSOLE_REDACT=card:4,customer.email`: field paths (`*` for any field), each with how many last characters show. */
function readRedaction(value: string | undefined, errors: string[]): Array<{ path: string; showLast: number }> {
  const rules: Array<{ path: string; showLast: number }> = [];
  for (const entry of (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([^.\s:]{1,128}(?:\.[^.\s:]{1,128}){0,15})(?::(\d))?$/.exec(entry);
    if (!match || Number(match[2] ?? 0) > 8) {
      errors.push(
        `CONSOLE_REDACT: "${entry}" must be a payload field path such as card or customer.email ("*" for any field), ` +
          'optionally with :N (0 to 8) to show the last N characters, e.g. card:4.',
      );
      continue;
    }
    rules.push({ path: match[1]!, showLast: Number(match[2] ?? 0) });
  }
  return rules;
}

const BROKER_SOURCES = ['BROKER_DATA_DIR', 'BROKER_URL', 'RABBITMQ_URL'] as const;

/** The one broker source the settings name; problems go to `errors`, and then the result is undefined. */
function readBrokerSource(env: NodeJS.ProcessEnv, cwd: string, errors: string[]): ConsoleBrokerConfig | undefined {
  const given = BROKER_SOURCES.filter((name) => env[name]?.trim());
  if (given.length > 1) {
    errors.push(
      `${given.join(' and ')} are ${given.length === 2 ? 'both' : 'all'} set; the console operates one broker: set only one of BROKER_DATA_DIR ` +
        '(an embedded broker directory), BROKER_URL (a standalone broker) or RABBITMQ_URL (RabbitMQ).',
    );
    return undefined;
  }
  const source = given[0] ?? 'BROKER_DATA_DIR';
  const value = env[source]?.trim() ?? '';
  const strays: string[] = [];
  if (source !== 'BROKER_URL' && env.BROKER_TOKEN?.trim()) strays.push('BROKER_TOKEN');
  if (source !== 'RABBITMQ_URL') {
    for (const name of ['RABBITMQ_DLQ_GROUPS', 'RABBITMQ_PREFIX']) if (env[name]?.trim()) strays.push(name);
  }
  if (source === 'BROKER_DATA_DIR' && env.BROKER_CONNECT_TIMEOUT?.trim()) strays.push('BROKER_CONNECT_TIMEOUT');
  const appliesTo: Record<string, string> = {
    BROKER_TOKEN: 'BROKER_URL',
    RABBITMQ_DLQ_GROUPS: 'RABBITMQ_URL',
    RABBITMQ_PREFIX: 'RABBITMQ_URL',
    BROKER_CONNECT_TIMEOUT: 'BROKER_URL or RABBITMQ_URL',
  };
  const chosen = source === 'BROKER_DATA_DIR' ? 'an embedded broker directory (BROKER_DATA_DIR)' : source;
  for (const name of strays) {
    errors.push(`${name} applies only with ${appliesTo[name]}, but the console is set to ${chosen}; remove it.`);
  }
  if (source === 'BROKER_DATA_DIR') return { kind: 'embedded', dataDir: resolve(cwd, value || 'data/broker') };

  let connectTimeoutMs = 10_000;
  const timeout = env.BROKER_CONNECT_TIMEOUT?.trim();
  if (timeout) {
    try {
      connectTimeoutMs = parseDuration(timeout, 'BROKER_CONNECT_TIMEOUT');
      if (connectTimeoutMs < 100 || connectTimeoutMs > 600_000) {
        errors.push(`BROKER_CONNECT_TIMEOUT must be from 100ms to 10m; got ${JSON.stringify(timeout)}.`);
      }
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  if (source === 'BROKER_URL') {
    const address = parseBrokerUrl(value);
    if ('problem' in address) errors.push(`BROKER_URL: ${address.problem}`);
    const token = env.BROKER_TOKEN?.trim() || undefined;
    if (token !== undefined && token.length > 4096) errors.push('BROKER_TOKEN must be at most 4096 characters.');
    return { kind: 'remote', url: value, token, connectTimeoutMs };
  }

  // A cluster's nodes come as one comma-separated list, which the transport splits the same way.
  for (const url of splitRabbitMqUrls(value)) {
    if (!/^amqps?:\/\/[^/]/i.test(url)) {
      errors.push(
        `RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://; for a cluster, node URLs separated by commas); got ${JSON.stringify(redactUrl(url))}.`,
      );
    }
  }
  const prefix = env.RABBITMQ_PREFIX?.trim() || 'rmq';
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(prefix) || prefix.startsWith('amq.')) {
    errors.push(
      `RABBITMQ_PREFIX must be 1-32 letters, digits, ".", "_" or "-", not starting with "amq."; got ${JSON.stringify(prefix)}.`,
    );
  }
  const groups = [
    ...new Set(
      (env.RABBITMQ_DLQ_GROUPS ?? '')
        .split(',')
        .map((group) => group.trim())
        .filter(Boolean),
    ),
  ];
  if (groups.length === 0) {
    errors.push(
      'RABBITMQ_DLQ_GROUPS is required with RABBITMQ_URL: RabbitMQ cannot list queues over AMQP, so name the ' +
        'consumer groups whose DLQs to show, e.g. RABBITMQ_DLQ_GROUPS=payment-service,order-service.',
    );
  }
  for (const group of groups) {
    try {
      validateName('group', group);
    } catch (error) {
      errors.push(`RABBITMQ_DLQ_GROUPS: ${(error as Error).message}`);
    }
  }
  return { kind: 'rabbitmq', url: value, prefix, groups, connectTimeoutMs };
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
