import {
  Inject,
  Injectable,
  ServiceUnavailableException,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { TransportUnavailableError } from '@reliable-mq/nestjs';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { toHttpError } from './broker-errors';

/** What the console knows of its broker connection. */
export interface BrokerReachabilityState {
  reachable: boolean;
  /** When the console first found it unreachable in this outage. */
  since: number | null;
  /** The transport's own words about the last failure. */
  reason: string | null;
}

/** Broker answers that speak of the broker itself (going away, full), not of the call. */
const UNAVAILABLE_CODES = new Set(['ENGINE_CLOSED', 'SHUTTING_DOWN', 'TOO_MANY_CONNECTIONS']);

/**
 * Whether the broker can be reached, learned from the transport's connection events where it has them and from
 * the calls themselves: a call that fails because the broker cannot be reached marks an outage (from then on,
 * "unreachable since"), and any answer from the broker ends it. Every broker call of the console goes through
 * `call`, so pages and the API say "the broker is unreachable since …" (503) instead of a bare 502, and the
 * overview shows what it reads from the databases meanwhile.
 */
@Injectable()
export class BrokerReachability implements OnModuleInit, OnModuleDestroy {
  private since: number | null = null;
  private reason: string | null = null;
  private stopListening: (() => void) | undefined;

  constructor(@Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions) {}

  onModuleInit(): void {
    const transport = this.options.broker.transport;
    if (transport.isConnected === false) this.lost('The broker connection is down.');
    this.stopListening = transport.onConnectionChange?.((connected) => {
      if (connected) this.found();
      else this.lost('The broker connection was lost; the transport is reconnecting.');
    });
  }

  onModuleDestroy(): void {
    this.stopListening?.();
  }

  state(): BrokerReachabilityState {
    return { reachable: this.since === null, since: this.since, reason: this.reason };
  }

  /** Runs a broker call; an unreachable broker is a 503 saying since when, any other failure its mapped status. */
  async call<T>(operation: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await operation();
    } catch (error) {
      if (this.isUnreachable(error)) {
        this.lost((error as Error).message);
        throw new ServiceUnavailableException(this.describe());
      }
      // The broker answered, even if it refused: it is reachable.
      this.found();
      throw toHttpError(error);
    }
    this.found();
    return result;
  }

  /** True when `error` says the broker could not be asked, rather than what it answered. */
  isUnreachable(error: unknown): boolean {
    if (error instanceof TransportUnavailableError) return true;
    const code = (error as { code?: unknown; brokerCode?: unknown } | null) ?? {};
    if (UNAVAILABLE_CODES.has(String(code.code)) || UNAVAILABLE_CODES.has(String(code.brokerCode))) return true;
    return this.options.broker.transport.isConnected === false;
  }

  /** "The broker is unreachable since <time>: <reason>" for the current outage. */
  describe(): string {
    const since = this.since === null ? 'now' : `since ${new Date(this.since).toISOString()}`;
    return `The broker is unreachable ${since}: ${this.reason ?? 'no answer'}`;
  }

  private lost(reason: string): void {
    this.since ??= this.options.now();
    this.reason = reason;
  }

  private found(): void {
    // A transport that reports its state is the judge of it: one call that slipped through does not end an outage.
    if (this.options.broker.transport.isConnected === false) return;
    this.since = null;
    this.reason = null;
  }
}
