import 'reflect-metadata';
import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  BrokerEngine,
  type DeadLetter,
  type DeadLetterPage,
  type Delivery,
  type EngineOptions,
} from '@reliable-mq/engine';
import { runReliableMqMigrations } from '@reliable-mq/nestjs';
import { EmbeddedTransport, type DeadLetterOperations } from '@reliable-mq/nestjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import {
  ReliableMqConsoleModule,
  hashConsolePassword,
  engineBacklogSource,
  hashConsoleToken,
  type ConsoleBrokerSource,
  type ReliableMqConsoleOptions,
} from '@reliable-mq/console';
import { OrderPayloadDto } from '../../../test/support/order-payload.dto';

export const PASSWORD = 'correct horse battery staple';
export const TOKEN = 'rmqc_test-token-for-scripts-0123456789abcdef';

/** Groups fail every first delivery; resent copies succeed unless their payload has `"failAgain":true`. */
/** Payload DTO of the `orders` topic in group `billing`: edits of its dead letters are validated with it. */
export { OrderPayloadDto };

/** What a spec sets on the one dead letter of startConsoleWithDeadLetter. */
export type DeadLetterFields = Pick<DeadLetter, 'group' | 'topic' | 'key' | 'tags' | 'headers' | 'body' | 'reason'>;

/**
 * A console over a fake broker that holds one dead letter, id 7, dead now after three tries, whose group and topic are
 * declared as a consumer: for the specs that check how the pages show what a broker names.
 */
export function startConsoleWithDeadLetter(fields: DeadLetterFields): Promise<ConsoleKit> {
  const letter: DeadLetter = {
    id: 7,
    dlqTopic: `%DLQ%${fields.group}`,
    messageId: 'm-1',
    originalMessageId: 'm-1',
    ...fields,
    reconsumeTimes: 3,
    bornAt: Date.now() - 1000,
    deadAt: Date.now(),
    status: 'dead',
    statusReason: null,
    statusAt: null,
  };
  const deadLetters: DeadLetterOperations = {
    list: async (): Promise<DeadLetterPage> => ({ total: 1, items: [letter] }),
    get: async (id) => (id === letter.id ? letter : undefined),
    resend: async (ids) => [...ids],
    discard: async (ids) => [...ids],
  };
  return startConsoleKit({
    console: {
      broker: { transport: { kind: 'fake', deadLetters } },
      consumers: [{ group: letter.group, topic: letter.topic }],
    },
  });
}

/** Real time plus a skew a test can push forward, for the console's clock. */
export class SkewedClock {
  private skew = 0;

  now(): number {
    return Date.now() + this.skew;
  }

  advance(ms: number): void {
    this.skew += ms;
  }
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface Session {
  cookie: string;
  csrf: string;
}

export interface ConsoleKit {
  app: INestApplication;
  /** e.g. http://127.0.0.1:1234/console */
  url: string;
  origin: string;
  engine: BrokerEngine;
  transport: ConsoleBrokerSource['transport'];
  dataSource: DataSource;
  clock: SkewedClock;
  dir: string;
  login(username: 'admin' | 'operator' | 'viewer'): Promise<Session>;
  call<T = unknown>(
    method: string,
    path: string,
    options?: { session?: Session; body?: unknown; headers?: Record<string, string>; csrf?: boolean; raw?: string },
  ): Promise<HttpAnswer<T>>;
  /** Publishes a message that group `group` fails for good (non-retryable) and waits for its dead letter. */
  deadLetter(input: {
    topic?: string;
    group?: string;
    key?: string;
    payload?: unknown;
    headers?: Record<string, string>;
    error?: string;
  }): Promise<number>;
  /** Messages group `billing` handled successfully (resent letters succeed). */
  handled: Delivery[];
  /**
   * Closes the console application (as a shutdown does) and opens a new one on the same broker, service database
   * and store file, on a new port; `app`, `url` and `origin` then point at the new one.
   */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export interface KitOptions {
  console?: Partial<ReliableMqConsoleOptions>;
  path?: string;
  /** Groups and their topics; each group fails every message unless it was resent from the DLQ. */
  groups?: Record<string, string[]>;
  withTransactions?: boolean;
  engine?: Partial<EngineOptions>;
  /** The broker source's check by a live consumer, as the standalone console on the remote broker has it. */
  validatePayload?: ConsoleBrokerSource['validatePayload'];
}

const DEFAULT_GROUPS: Record<string, string[]> = { billing: ['orders'], 'short-window': ['invoices'] };

/**
 * A console on a fresh embedded engine and a fresh service database, listening on a free port. Users `admin`,
 * `operator` and `viewer` share PASSWORD; the token TOKEN has the operator role.
 */
export async function startConsoleKit(options: KitOptions = {}): Promise<ConsoleKit> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-console-'));
  const engine = BrokerEngine.open({
    ...options.engine,
    dataDir: join(dir, 'broker'),
    flush: 'async',
    minFreeDiskBytes: 0,
  });
  const groups = options.groups ?? DEFAULT_GROUPS;
  const topics = new Set(Object.values(groups).flat());
  for (const topic of topics) engine.createTopic(topic, { queueCount: 2 });
  const handled: Delivery[] = [];
  for (const [group, groupTopics] of Object.entries(groups)) {
    for (const topic of groupTopics) {
      await engine.subscribe({
        group,
        topic,
        memberId: `${group}-member`,
        startFrom: 'earliest',
        handler: async (delivery) => {
          if (
            delivery.headers['x-rmq-resent-from-dlq'] !== undefined &&
            !delivery.body.toString().includes('"failAgain":true')
          ) {
            handled.push(delivery);
            return;
          }
          throw Object.assign(new Error(delivery.headers['x-test-error'] ?? `refused by ${group}`), {
            nonRetryable: true,
          });
        },
      });
    }
  }
  const transport = new EmbeddedTransport({ kind: 'embedded', sharedEngine: engine });
  await transport.connect();
  const exposed: ConsoleBrokerSource['transport'] =
    options.withTransactions === false ? { kind: transport.kind, deadLetters: transport.deadLetters } : transport;

  const dataSource = new DataSource({ type: 'better-sqlite3', database: join(dir, 'orders.sqlite') });
  await dataSource.initialize();
  await runReliableMqMigrations(dataSource);

  const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
  const clock = new SkewedClock();
  const consoleOptions: ReliableMqConsoleOptions = {
    broker: {
      transport: exposed,
      stats: () => engine.stats(),
      backlog: engineBacklogSource(engine),
      label: 'embedded (test)',
      ...(options.validatePayload ? { validatePayload: options.validatePayload } : {}),
    },
    services: [{ name: 'orders', dataSource }],
    auth: {
      users: [
        { username: 'admin', passwordHash: hash, role: 'admin' },
        { username: 'operator', passwordHash: hash, role: 'operator' },
        { username: 'viewer', passwordHash: hash, role: 'viewer' },
      ],
      tokens: [{ name: 'ci', tokenHash: hashConsoleToken(TOKEN), role: 'operator' }],
    },
    storeFile: join(dir, 'console.sqlite'),
    consumers: [{ group: 'billing', topic: 'orders', dto: OrderPayloadDto, handler: 'BillingConsumer.charge' }],
    dedupWindows: { billing: null, 'short-window': 60_000 },
    sampling: { interval: '1h' },
    clock,
    ...options.console,
  };

  @Module({})
  class ConsoleHostModule {
    static register(): DynamicModule {
      return {
        module: ConsoleHostModule,
        imports: [ReliableMqConsoleModule.forRoot({ ...consoleOptions, path: options.path ?? '/console' })],
      };
    }
  }
  const openApp = async (): Promise<{ app: INestApplication; origin: string; url: string }> => {
    const app = await NestFactory.create<NestExpressApplication>(ConsoleHostModule.register(), {
      bodyParser: false,
      logger: false,
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const origin = `http://127.0.0.1:${port}`;
    return { app, origin, url: `${origin}/${(options.path ?? '/console').replace(/^\/+|\/+$/g, '')}` };
  };
  const opened = await openApp();

  const call: ConsoleKit['call'] = async (method, path, callOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers };
    if (callOptions.session) {
      headers.cookie = callOptions.session.cookie;
      if (callOptions.csrf !== false) headers['x-csrf-token'] = callOptions.session.csrf;
    }
    let body: string | undefined = callOptions.raw;
    if (callOptions.body !== undefined) {
      body = JSON.stringify(callOptions.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(path.startsWith('http') ? path : `${kit.url}${path}`, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON.
    }
    return { status: response.status, body: parsed as never, text, headers: response.headers };
  };

  const login = async (username: string): Promise<Session> => {
    const answer = await call<{ csrfToken: string }>('POST', '/api/auth/login', {
      body: { username, password: PASSWORD },
    });
    if (answer.status !== 200) throw new Error(`login ${username}: ${answer.status} ${answer.text}`);
    const cookie = answer.headers.get('set-cookie')!.split(';')[0]!;
    return { cookie, csrf: answer.body.csrfToken };
  };

  let sequence = 0;
  const deadLetter: ConsoleKit['deadLetter'] = async (input) => {
    const group = input.group ?? 'billing';
    const topic = input.topic ?? groups[group]?.[0] ?? 'orders';
    sequence += 1;
    const payload = input.payload ?? { orderId: `o-${sequence}`, card: '4000000000000002', currency: 'EUR' };
    const [published] = await engine.publish([
      {
        topic,
        key: input.key ?? `o-${sequence}`,
        headers: { ...input.headers, ...(input.error ? { 'x-test-error': input.error } : {}) },
        body: JSON.stringify(payload),
      },
    ]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const page = engine.listDeadLetters({ group, messageId: published!.messageId, status: 'any' });
      if (page.items.length > 0) return page.items[0]!.id;
      if (Date.now() > deadline) throw new Error(`message ${published!.messageId} was not dead-lettered by ${group}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  const kit: ConsoleKit = {
    ...opened,
    engine,
    transport: exposed,
    dataSource,
    clock,
    dir,
    login: login as ConsoleKit['login'],
    call,
    deadLetter,
    handled,
    async reopen() {
      await kit.app.close();
      Object.assign(kit, await openApp());
    },
    async close() {
      await kit.app.close();
      await transport.close();
      await engine.close(1000);
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return kit;
}

/** Polls until `check` is true; bounded. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Inserts an outbox row as the publisher would, with the given state. */
export async function insertOutboxRow(
  dataSource: DataSource,
  row: {
    id: string;
    topic?: string;
    key?: string | null;
    status: 'pending' | 'sent' | 'dead';
    createdAt: number;
    attempts?: number;
    lastError?: string | null;
    leaseUntil?: number | null;
    payload?: string;
  },
): Promise<void> {
  await dataSource.query(
    `INSERT INTO rmq_outbox (id, producer_group, topic, msg_key, tags, headers, payload, status, attempts, next_attempt_at, deliver_at, created_at, sent_at, lease_owner, lease_until, last_error)
     VALUES (?, 'orders', ?, ?, NULL, '{}', ?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?)`,
    [
      row.id,
      row.topic ?? 'orders',
      row.key ?? null,
      row.payload ?? '{"orderId":"o-1"}',
      row.status,
      row.attempts ?? 0,
      row.createdAt,
      row.createdAt,
      row.leaseUntil ? 'relay-1' : null,
      row.leaseUntil ?? null,
      row.lastError ?? null,
    ],
  );
}

/** The built front end's entry files, as the console links them (`<mount>/assets/<name>`). */
export function bundleFiles(): { script: string; style: string } {
  const manifest = JSON.parse(readFileSync(join(__dirname, '../ui/dist/.vite/manifest.json'), 'utf8')) as Record<
    string,
    { file: string; css?: string[] }
  >;
  const entry = manifest['src/main.tsx']!;
  return { script: entry.file.replace(/^assets\//, ''), style: entry.css![0]!.replace(/^assets\//, '') };
}
