import { Injectable, type LoggerService } from '@nestjs/common';
import { expect } from 'vitest';
import { Test, type TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import {
  ConsumerRunner,
  MqConsumer,
  OutboxRelayService,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  outboxDialect,
  type DedupOptions,
  type RelayOptions,
  type Transport,
  type TransportOptions,
} from '@reliable-mq/nestjs';

/*
 * Support for the broker-outage tests: a Nest application that commits orders into the outbox and consumes them
 * back, counting each order's effects, with its log kept for assertions. Not part of the public API.
 */

export const ORDERS_TOPIC = 'orders';
export const ORDERS_GROUP = 'billing';

@Injectable()
export class OrderLedger {
  /** Handler runs per order id; the dedup store keys on it, so a redelivered copy does not count. */
  readonly effects = new Map<string, number>();
  /** When each handler run happened (epoch ms), in order. */
  readonly times: number[] = [];
  /** When each order was first handled (epoch ms). */
  readonly handledAt = new Map<string, number>();

  @MqConsumer<{ orderId: string }>({
    topic: ORDERS_TOPIC,
    group: ORDERS_GROUP,
    startFrom: 'earliest',
    dedupKey: (payload) => payload.orderId,
  })
  async onOrder(payload: { orderId: string }): Promise<void> {
    this.effects.set(payload.orderId, (this.effects.get(payload.orderId) ?? 0) + 1);
    this.times.push(Date.now());
    if (!this.handledAt.has(payload.orderId)) this.handledAt.set(payload.orderId, Date.now());
  }
}

export interface LogLine {
  level: 'log' | 'warn' | 'error' | 'debug' | 'verbose' | 'fatal';
  context: string;
  message: string;
}

/** Keeps what the application logs; `echo` also prints it, with times, for a failed run's story. */
export class CapturedLog implements LoggerService {
  readonly lines: LogLine[] = [];

  constructor(private readonly echo = false) {}

  log(message: unknown, context?: string): void {
    this.push('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.push('warn', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : '';
    this.push('error', message, context);
  }
  debug(message: unknown, context?: string): void {
    this.push('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    this.push('verbose', message, context);
  }

  has(context: string, pattern: RegExp): boolean {
    return this.lines.some((line) => line.context === context && pattern.test(line.message));
  }

  private push(level: LogLine['level'], message: unknown, context = ''): void {
    const text = typeof message === 'string' ? message : String(message);
    this.lines.push({ level, context, message: text });
    if (this.echo) console.log(`${new Date().toISOString()} [${level}] [${context}] ${text}`);
  }
}

export interface OrderAppOptions {
  transport: TransportOptions;
  /** A migrated database holding `rmq_outbox`. */
  dataSource: DataSource;
  relay?: RelayOptions;
  /** Default `memory`; `db` keeps the inbox in `dataSource` (migrated with the framework's tables). */
  dedup?: DedupOptions;
}

/** The running application and what the tests do with it. */
export class OrderApp {
  private nextOrder = 0;
  private closed = false;

  private constructor(
    readonly app: TestingModule,
    readonly log: CapturedLog,
    readonly dataSource: DataSource,
  ) {}

  static async start(options: OrderAppOptions): Promise<OrderApp> {
    const log = new CapturedLog(process.env.OUTAGE_TEST_ECHO === 'true');
    const app = await Test.createTestingModule({
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'order-service',
          dataSource: options.dataSource,
          transport: options.transport,
          dedup: options.dedup ?? { store: 'memory' },
          relay: options.relay,
          consumers: { prefetch: 256 },
          shutdownTimeoutMs: 2_000,
        }),
      ],
      providers: [OrderLedger],
    })
      .setLogger(log)
      .compile();
    await app.init();
    return new OrderApp(app, log, options.dataSource);
  }

  get publisher(): ReliablePublisher {
    return this.app.get(ReliablePublisher);
  }

  get relay(): OutboxRelayService {
    return this.app.get(OutboxRelayService);
  }

  get ledger(): OrderLedger {
    return this.app.get(OrderLedger);
  }

  get transport(): Transport {
    return this.app.get<Transport>(RELIABLE_MQ_TRANSPORT);
  }

  /** Redeliveries the dedup store absorbed (the broker handed a message out again). */
  get duplicates(): number {
    return this.app.get(ConsumerRunner).countersFor(ORDERS_GROUP, ORDERS_TOPIC).duplicates;
  }

  /** Commits `count` orders, `perTransaction` to a business transaction; resolves their ids. */
  async placeOrders(count: number, perTransaction = 1): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < count; start += perTransaction) {
      const batch = Array.from({ length: Math.min(perTransaction, count - start) }, () => `order-${++this.nextOrder}`);
      await this.publisher.transaction((manager) =>
        this.publisher.publish(
          batch.map((orderId) => ({ topic: ORDERS_TOPIC, key: orderId, payload: { orderId } })),
          { manager },
        ),
      );
      ids.push(...batch);
    }
    return ids;
  }

  /** Outbox rows by status. */
  async outboxStatuses(): Promise<Record<string, number>> {
    const rows = (await this.dataSource.query(
      `SELECT status, COUNT(*) AS n FROM ${outboxDialect(this.dataSource).table} GROUP BY status`,
    )) as Array<{ status: string; n: number | string }>;
    return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
  }

  /** The highest attempt count of any outbox row. */
  async maxAttempts(): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT MAX(attempts) AS m FROM ${outboxDialect(this.dataSource).table}`,
    )) as Array<{ m: number | string | null }>;
    return Number(row?.m ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.app.close();
  }
}

/** How every placed order fared: delivered once, more than once, or not at all. */
export function tally(placed: readonly string[], ledger: OrderLedger): { once: number; twice: number; lost: number } {
  let once = 0;
  let twice = 0;
  let lost = 0;
  for (const id of placed) {
    const runs = ledger.effects.get(id) ?? 0;
    if (runs === 0) lost++;
    else if (runs === 1) once++;
    else twice++;
  }
  return { once, twice, lost };
}

/**
 * Watches, from a moment on, when the transport reports a connection, when the relay first claims rows and first
 * has a batch confirmed, and when the consumer first handles an order: polled every few milliseconds, so the
 * figures are as fine as the event loop allows.
 */
export class DrainWatch {
  firstClaimedAt: number | undefined;
  firstSentAt: number | undefined;
  firstHandledAt: number | undefined;
  connectedAt: number | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly stopListening: (() => void) | undefined;
  private readonly claimedBefore: number;
  private readonly sentBefore: number;
  private readonly handledBefore: number;

  constructor(
    private readonly order: OrderApp,
    readonly since: number,
  ) {
    this.claimedBefore = order.relay.metrics()?.claimed ?? 0;
    this.sentBefore = order.relay.metrics()?.sent ?? 0;
    this.handledBefore = order.ledger.times.length;
    this.stopListening = order.transport.onConnectionChange?.((connected) => {
      if (connected && this.connectedAt === undefined) this.connectedAt = Date.now();
    });
    if (order.transport.isConnected) this.connectedAt = Date.now();
    this.timer = setInterval(() => this.poll(), 2);
  }

  poll(): void {
    const now = Date.now();
    if (this.firstClaimedAt === undefined && (this.order.relay.metrics()?.claimed ?? 0) > this.claimedBefore) {
      this.firstClaimedAt = now;
    }
    if (this.firstSentAt === undefined && (this.order.relay.metrics()?.sent ?? 0) > this.sentBefore) {
      this.firstSentAt = now;
    }
    if (this.firstHandledAt === undefined && this.order.ledger.times.length > this.handledBefore) {
      this.firstHandledAt = this.order.ledger.times[this.handledBefore];
    }
  }

  stop(): {
    reconnectMs: number | null;
    firstClaimedMs: number | null;
    firstSentMs: number | null;
    firstHandledMs: number | null;
  } {
    this.poll();
    clearInterval(this.timer);
    this.stopListening?.();
    const since = (at: number | undefined): number | null => (at === undefined ? null : at - this.since);
    return {
      reconnectMs: since(this.connectedAt),
      firstClaimedMs: since(this.firstClaimedAt),
      firstSentMs: since(this.firstSentAt),
      firstHandledMs: since(this.firstHandledAt),
    };
  }
}

/** What an outage run saw, for the checks every outage test makes once the broker is back. */
export interface OutageOutcome {
  outageMs: number;
  /** The relay's retry budget, `maxAttempts` × `backoffMaxMs`. */
  budgetMs: number;
  statusesDuringOutage: Record<string, number>;
  attemptsDuringOutage: number;
  placed: readonly string[];
  counts: ReturnType<typeof tally>;
  statuses: Record<string, number>;
  figures: ReturnType<DrainWatch['stop']>;
}

/**
 * The outage outlasted the relay's retry budget many times over, yet cost no row an attempt or its life; every order
 * took effect once; and draining began (the relay claimed and published) within a second of the return, with the
 * first order handled soon after.
 */
export function expectRecoveredFromOutage(outcome: OutageOutcome): void {
  expect(outcome.outageMs).toBeGreaterThan(outcome.budgetMs * 5);
  expect(outcome.statusesDuringOutage.dead ?? 0).toBe(0);
  expect(outcome.attemptsDuringOutage).toBe(0);
  expect(outcome.counts).toEqual({ once: outcome.placed.length, twice: 0, lost: 0 });
  expect(outcome.statuses).toEqual({ sent: outcome.placed.length });
  expect(outcome.figures.firstClaimedMs).not.toBeNull();
  expect(outcome.figures.firstClaimedMs!).toBeLessThan(1_000);
  expect(outcome.figures.firstHandledMs).not.toBeNull();
  expect(outcome.figures.firstHandledMs!).toBeLessThan(3_000);
}
