import { ProtocolErrorCode } from '@reliable-mq/protocol';
import { BrokerRefusedError } from '../../errors/broker-refused.error';

/** Refusals that a reconnect with the same settings cannot cure. */
const PERMANENT_REFUSALS = new Set<string>([ProtocolErrorCode.UNAUTHORIZED, ProtocolErrorCode.UNSUPPORTED_VERSION]);

/** An attempt that failed within this long was refused outright (nothing listens, or the broker is starting). */
const QUICK_FAILURE_MS = 1_000;
/**
 * Longest wait between attempts that fail quickly. A refused connect costs next to nothing, so a broker that comes
 * back is found within this long, whatever `reconnectMaxDelayMs` allows for attempts that time out.
 */
const QUICK_RETRY_MAX_MS = 250;

/** A refused token or protocol version: no retry can fix it, so connecting stops and says so. */
export const isPermanentRefusal = (error: unknown): error is BrokerRefusedError =>
  error instanceof BrokerRefusedError && PERMANENT_REFUSALS.has(error.brokerCode);

/** Whether a failed attempt was refused outright, so that the next may come soon. */
export function failedQuickly(startedAt: number, now: number, error: unknown): boolean {
  return now - startedAt < QUICK_FAILURE_MS && !isPermanentRefusal(error);
}

export interface ReconnectDelayInput {
  /** Attempts since the last connection held. */
  attempt: number;
  /** The last attempt failed quickly. */
  quick: boolean;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** The wait before the next attempt: exponential from `reconnectDelayMs`, capped, with jitter. */
export function reconnectDelay({ attempt, quick, reconnectDelayMs, reconnectMaxDelayMs }: ReconnectDelayInput): number {
  const cap = quick ? Math.min(reconnectMaxDelayMs, QUICK_RETRY_MAX_MS) : reconnectMaxDelayMs;
  const base = Math.min(cap, reconnectDelayMs * 2 ** Math.min(attempt, 20));
  // Jitter keeps many clients of one restarted broker from reconnecting in lockstep.
  return Math.round(base * (0.5 + Math.random() / 2));
}
