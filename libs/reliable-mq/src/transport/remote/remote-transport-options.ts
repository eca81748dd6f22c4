import { parseDuration } from '@reliable-mq/engine';
import { parseBrokerUrl } from './broker-url';

/** The standalone broker over the network (apps/broker, docs/broker-protocol.md). */
export interface RemoteTransportOptions {
  kind: 'remote';
  /** `reliable-mq://host:7420`. Default: the BROKER_URL environment variable. */
  url?: string;
  /** The broker's token. Default: the BROKER_TOKEN environment variable. */
  token?: string;
  /** Topics declared on the broker at every connect (`'name'` or `{ name, queueCount }`). */
  topics?: Array<string | { name: string; queueCount?: number }>;
  /**
   * `false` (default): the application starts even when the broker cannot be reached; business transactions go to
   * the outbox, and the relay and the consumers attach as soon as the broker is reachable. `true`: startup waits
   * for the broker, up to `connectTimeoutMs`, and fails if it does not answer.
   */
  waitForConnection?: boolean;
  /**
   * How long startup waits for the broker: the whole wait with `waitForConnection`, else the first attempt only.
   * Default 30 s.
   */
  connectTimeoutMs?: number | string;
  /** A call without an answer for this long fails (the relay retries a publish). Default 30 s. */
  requestTimeoutMs?: number | string;
  /** Delay before the first reconnect attempt; doubles per failed attempt, with jitter. Default 100 ms. */
  reconnectDelayMs?: number | string;
  /**
   * Cap of the reconnect delay for attempts that time out. Attempts the broker refuses outright come at most 250 ms
   * apart whatever this says. Default 5 s.
   */
  reconnectMaxDelayMs?: number | string;
  /** Shown in the broker's log. Default `host:pid`. */
  clientName?: string;
}

export interface ResolvedRemoteTransportOptions {
  host: string;
  port: number;
  url: string;
  token: string | undefined;
  topics: Array<{ name: string; queueCount?: number }>;
  waitForConnection: boolean;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
  clientName: string | undefined;
}

/**
 * Checks remote transport options (falling back to BROKER_URL and BROKER_TOKEN). Every problem is passed to `fix` as
 * one sentence, which throws.
 */
export function resolveRemoteTransportOptions(
  options: RemoteTransportOptions,
  fix: (problem: string) => never,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedRemoteTransportOptions {
  const url = options.url ?? env.BROKER_URL;
  if (typeof url !== 'string' || url.trim() === '') {
    return fix(
      'transport { kind: "remote" } needs `url` (e.g. "reliable-mq://127.0.0.1:7420") or the BROKER_URL environment variable.',
    );
  }
  const address = parseBrokerUrl(url.trim());
  if ('problem' in address) return fix(`transport.url: ${address.problem}`);
  const token =
    options.token ?? (env.BROKER_TOKEN !== undefined && env.BROKER_TOKEN !== '' ? env.BROKER_TOKEN : undefined);
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || token.length > 4096)) {
    fix('transport.token must be the broker token, a string of 1 to 4096 characters.');
  }
  const duration = (name: string, value: number | string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    let parsed: number;
    try {
      parsed = parseDuration(value, `transport.${name}`);
    } catch (error) {
      return fix((error as Error).message);
    }
    if (parsed < min) fix(`transport.${name} must be at least ${min} ms; got ${parsed}.`);
    return parsed;
  };
  const topics: ResolvedRemoteTransportOptions['topics'] = [];
  if (options.topics !== undefined && !Array.isArray(options.topics))
    fix('transport.topics must be an array of topic names.');
  for (const topic of options.topics ?? []) {
    if (typeof topic === 'string') topics.push({ name: topic });
    else if (typeof topic === 'object' && topic !== null && typeof topic.name === 'string') topics.push({ ...topic });
    else fix(`transport.topics entries are names or { name, queueCount }; got ${JSON.stringify(topic)}.`);
  }
  if (options.clientName !== undefined && (typeof options.clientName !== 'string' || options.clientName.length > 256)) {
    fix('transport.clientName must be a string of at most 256 characters.');
  }
  if (options.waitForConnection !== undefined && typeof options.waitForConnection !== 'boolean') {
    fix(
      `transport.waitForConnection must be true (startup waits for the broker) or false (it starts without it); got ${JSON.stringify(options.waitForConnection)}.`,
    );
  }
  const reconnectDelayMs = duration('reconnectDelayMs', options.reconnectDelayMs, 100, 1);
  const reconnectMaxDelayMs = duration('reconnectMaxDelayMs', options.reconnectMaxDelayMs, 5_000, 1);
  if (reconnectMaxDelayMs < reconnectDelayMs)
    fix('transport.reconnectMaxDelayMs must not be below transport.reconnectDelayMs.');
  return {
    host: address.host,
    port: address.port,
    url: url.trim(),
    token,
    topics,
    waitForConnection: options.waitForConnection ?? false,
    connectTimeoutMs: duration('connectTimeoutMs', options.connectTimeoutMs, 30_000, 0),
    requestTimeoutMs: duration('requestTimeoutMs', options.requestTimeoutMs, 30_000, 10),
    reconnectDelayMs,
    reconnectMaxDelayMs,
    clientName: options.clientName,
  };
}
