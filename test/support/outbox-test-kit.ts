import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { DataSource, type DataSourceOptions } from 'typeorm';
import {
  OutboxMessageEntity,
  outboxDialect,
  outboxRowFromRaw,
  runReliableMqMigrations,
  type DeadLetterOperations,
  type InboundHandler,
  type OutboxMessage,
  type SubscriptionSpec,
  type Transport,
  type TransportConfirm,
  type TransportMessage,
  type TransportSubscription,
} from '@reliable-mq/nestjs';

/*
 * Support for the outbox and publisher specs: a throw-away database per test on each supported engine, and a
 * transport double that records what it was given. Not part of the public API.
 */

export type TestDatabaseKind = 'sqlite' | 'postgres' | 'mariadb';

export interface TestDatabaseUrls {
  postgres: string;
  mariadb: string;
}

/** A migrated, isolated database: a temp file, a PostgreSQL schema, or a MariaDB database. */
export class TestDatabase {
  private readonly extra: DataSource[] = [];

  private constructor(
    readonly kind: TestDatabaseKind,
    readonly dataSource: DataSource,
    private readonly optionsForMore: DataSourceOptions,
    private readonly teardown: () => Promise<void>,
  ) {}

  /** `migrate: false` leaves the database empty, for the migration specs. */
  static async create(
    kind: TestDatabaseKind,
    urls: TestDatabaseUrls,
    name: string,
    { migrate = true } = {},
  ): Promise<TestDatabase> {
    const prepare = async (dataSource: DataSource): Promise<void> => {
      if (migrate) await runReliableMqMigrations(dataSource);
    };
    if (kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'rmq-outbox-'));
      const options: DataSourceOptions = {
        type: 'better-sqlite3',
        database: join(dir, 'app.sqlite'),
        entities: [OutboxMessageEntity],
        enableWAL: true,
      };
      const dataSource = await new DataSource(options).initialize();
      await prepare(dataSource);
      return new TestDatabase(kind, dataSource, options, async () => rmSync(dir, { recursive: true, force: true }));
    }
    if (kind === 'postgres') {
      await postgresAdmin(urls.postgres, `CREATE SCHEMA "${name}"`);
      // The schema option qualifies the outbox; search_path also puts unqualified framework tables in it.
      const options: DataSourceOptions = {
        type: 'postgres',
        url: urls.postgres,
        schema: name,
        entities: [OutboxMessageEntity],
        extra: { max: 6, options: `-c search_path=${name}` },
      };
      const dataSource = await new DataSource(options).initialize();
      await prepare(dataSource);
      return new TestDatabase(kind, dataSource, options, async () => {
        await postgresAdmin(urls.postgres, `DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      });
    }
    const admin = await createConnection({ uri: urls.mariadb });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    await admin.end();
    const url = new URL(urls.mariadb);
    url.pathname = `/${name}`;
    const options: DataSourceOptions = {
      type: 'mariadb',
      url: url.toString(),
      entities: [OutboxMessageEntity],
      extra: { connectionLimit: 6 },
    };
    const dataSource = await new DataSource(options).initialize();
    await prepare(dataSource);
    return new TestDatabase(kind, dataSource, options, async () => {
      const client = await createConnection({ uri: urls.mariadb });
      await client.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await client.end();
    });
  }

  /** Another DataSource (own pool) on the same database, as a second process would have. */
  async open(extra: { migrations?: DataSourceOptions['migrations'] } = {}): Promise<DataSource> {
    const dataSource = await new DataSource({ ...this.optionsForMore, ...extra } as DataSourceOptions).initialize();
    this.extra.push(dataSource);
    return dataSource;
  }

  /** Every row, in seq order. */
  async rows(): Promise<OutboxMessage[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const raw = (await runner.query(`SELECT * FROM ${outboxDialect(this.dataSource).table} ORDER BY seq`)) as Array<
        Record<string, unknown>
      >;
      return raw.map(outboxRowFromRaw);
    } finally {
      await runner.release();
    }
  }

  /** Runs a statement where `{t}` stands for the outbox table. */
  async exec(sql: string, parameters: unknown[] = []): Promise<unknown> {
    return this.dataSource.query(sql.replace(/\{t\}/g, outboxDialect(this.dataSource).table), parameters);
  }

  param(index: number): string {
    return outboxDialect(this.dataSource).param(index);
  }

  async dispose(): Promise<void> {
    for (const dataSource of [...this.extra, this.dataSource]) {
      if (dataSource.isInitialized) await dataSource.destroy();
    }
    await this.teardown();
  }
}

async function postgresAdmin(url: string, sql: string): Promise<void> {
  const admin = await new DataSource({ type: 'postgres', url, extra: { max: 1 } }).initialize();
  try {
    await admin.query(sql);
  } finally {
    await admin.destroy();
  }
}

export interface PublishCall {
  transport: string;
  ids: string[];
  messages: readonly TransportMessage[];
  startedAt: number;
  endedAt: number;
  ok: boolean;
}

/** Shared log of the calls several FakeTransports received, as one broker would see them. */
export class PublishRecorder {
  readonly calls: PublishCall[] = [];

  /** Messages of successful calls, in the order their confirms were given. */
  confirmed(): TransportMessage[] {
    return this.calls
      .filter((call) => call.ok)
      .sort((a, b) => a.endedAt - b.endedAt)
      .flatMap((call) => [...call.messages]);
  }
}

export type PublishBehaviour = (batch: readonly TransportMessage[], callIndex: number) => Promise<void> | void;

/**
 * A Transport double for the relay's unit scope: records every publish and does what `behaviour` says (throw to
 * fail the batch, await to be slow). The end-to-end suites use the real engine instead.
 */
export class FakeTransport implements Transport {
  readonly kind = 'fake';
  behaviour: PublishBehaviour | undefined;
  private callCount = 0;

  constructor(
    readonly name = 'fake',
    readonly recorder: PublishRecorder = new PublishRecorder(),
  ) {}

  get calls(): PublishCall[] {
    return this.recorder.calls.filter((call) => call.transport === this.name);
  }

  async connect(): Promise<void> {}
  async ensureTopic(): Promise<void> {}

  async publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]> {
    const call: PublishCall = {
      transport: this.name,
      ids: batch.map((message) => message.id),
      messages: [...batch],
      startedAt: performance.now(),
      endedAt: Number.NaN,
      ok: false,
    };
    this.recorder.calls.push(call);
    const index = this.callCount++;
    try {
      await this.behaviour?.(batch, index);
      call.ok = true;
      return batch.map((message) => ({ id: message.id, duplicate: false }));
    } finally {
      call.endedAt = performance.now();
    }
  }

  subscribe(_spec: SubscriptionSpec, _handler: InboundHandler): Promise<TransportSubscription> {
    return Promise.reject(new Error('FakeTransport does not deliver messages.'));
  }

  readonly deadLetters: DeadLetterOperations = {
    list: () => Promise.reject(new Error('not supported')),
    get: () => Promise.reject(new Error('not supported')),
    resend: () => Promise.reject(new Error('not supported')),
    discard: () => Promise.reject(new Error('not supported')),
  };

  async close(): Promise<void> {}
}

/** A promise with its resolve exposed, to hold a fake publish until the test releases it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A logger that keeps what the relay says, so specs stay quiet and can assert on it. */
export class MemoryLogger {
  readonly lines: Array<{ level: 'log' | 'warn' | 'error'; message: string }> = [];
  log(message: string): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
}
