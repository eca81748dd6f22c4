import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import {
  createOutboxStore,
  operatorRefusal,
  type OutboxMessage,
  type OutboxProblem,
  type OutboxProblemCounts,
  type OutboxProblemQuery,
  type OutboxStore,
  type OutboxTopicProblems,
} from '@reliable-mq/nestjs';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal } from '../http/console-request';
import { PayloadRedactor } from '../redaction/payload-redactor';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { readHalfMessageCounts, type HalfMessageCounts } from './half-message-counts';

/** A service's pending, stuck and dead rows; the topics are listed beside them. */
export type OutboxCounts = Omit<OutboxProblemCounts, 'byTopic'>;

export interface OutboxRowView {
  seq: number;
  id: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  status: string;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  deliverAt: number | null;
  /** A relay holds it until this time; requeue and discard wait for the lease to end. */
  leasedUntil: number | null;
  lastError: string | null;
  headers: Record<string, string>;
  tags: string[];
  /** The payload's JSON text, pretty-printed when it parses, with the configured fields masked. */
  payload: string;
  ageMs: number;
}

export interface OutboxServiceSummary {
  name: string;
  database: string;
  counts: OutboxCounts | null;
  byTopic: OutboxTopicProblems[];
  /** Half messages kept in this database (RabbitMQ keeps them beside the outbox); null without the table. */
  halfMessages: HalfMessageCounts | null;
  /** Set when the database could not be read; the other services are still shown. */
  error: string | null;
}

@Injectable()
export class OutboxService {
  /** The framework's own outbox store per service database: the console changes rows by the relay's rules. */
  private readonly stores = new Map<string, OutboxStore>();

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly settings: ConsoleSettingsService,
    private readonly audit: AuditLog,
    private readonly redactor: PayloadRedactor,
  ) {}

  serviceNames(): string[] {
    return this.options.services.map((service) => service.name);
  }

  async summaries(): Promise<{ stuckAfterMs: number; services: OutboxServiceSummary[] }> {
    const stuckAfterMs = this.settings.get().stuckAfterMs;
    const stuckBefore = this.options.now() - stuckAfterMs;
    const services = await Promise.all(
      this.options.services.map(async (service): Promise<OutboxServiceSummary> => {
        const database = String(service.dataSource.options.type);
        try {
          const store = this.store(service.name);
          const [{ byTopic, ...counts }, halfMessages] = await Promise.all([
            store.countProblems(stuckBefore),
            readHalfMessageCounts(service.dataSource),
          ]);
          return { name: service.name, database, counts, byTopic, halfMessages, error: null };
        } catch (error) {
          return {
            name: service.name,
            database,
            counts: null,
            byTopic: [],
            halfMessages: null,
            error: (error as Error).message,
          };
        }
      }),
    );
    return { stuckAfterMs, services };
  }

  async rows(
    service: string,
    state: OutboxProblem,
    filter: { topic?: string; key?: string },
    limit: number,
    offset: number,
    order?: OutboxProblemQuery['order'],
  ): Promise<{ service: string; state: OutboxProblem; stuckAfterMs: number; total: number; items: OutboxRowView[] }> {
    const stuckAfterMs = this.settings.get().stuckAfterMs;
    const now = this.options.now();
    const page = await this.store(service).listProblems({
      problem: state,
      ...filter,
      stuckBefore: now - stuckAfterMs,
      limit,
      offset,
      order,
    });
    return { service, state, stuckAfterMs, total: page.total, items: page.items.map((row) => this.view(row, now)) };
  }

  async row(service: string, id: string): Promise<OutboxRowView> {
    const [row] = await this.store(service).findByIds([id]);
    if (!row) throw new NotFoundException(`Service ${service} has no outbox row ${id}.`);
    return this.view(row, this.options.now());
  }

  async requeue(
    service: string,
    ids: string[],
    reason: string | undefined,
    principal: ConsolePrincipal,
  ): Promise<{ requeued: number }> {
    return { requeued: await this.act('requeue', service, ids, reason ?? null, principal) };
  }

  async discard(
    service: string,
    ids: string[],
    reason: string,
    principal: ConsolePrincipal,
  ): Promise<{ discarded: number }> {
    return { discarded: await this.act('discard', service, ids, reason.trim(), principal) };
  }

  /** Checks the selection, changes it through the framework's store, and records what was done in the audit log. */
  private async act(
    action: 'requeue' | 'discard',
    service: string,
    ids: string[],
    reason: string | null,
    principal: ConsolePrincipal,
  ): Promise<number> {
    const unique = [...new Set(ids)];
    const rows = await this.eligible(service, unique, action === 'requeue' ? 'requeued' : 'discarded');
    const store = this.store(service);
    const now = this.options.now();
    const changed = action === 'requeue' ? await store.requeue(unique, now) : await store.discard(unique, now);
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: `outbox.${action}`,
      target: unique.length === 1 ? `outbox ${service} ${unique[0]}` : `outbox ${service}: ${unique.length} rows`,
      count: changed,
      reason,
      outcome: changed === unique.length ? 'ok' : 'partial',
      details: {
        service,
        rows: rows.map((row) => ({
          id: row.id,
          topic: row.topic,
          key: row.key,
          status: row.status,
          attempts: row.attempts,
          lastError: row.lastError,
          // A discarded row is deleted: what it held stays here (the payload masked and cut by the audit log).
          ...(action === 'discard' ? { createdAt: row.createdAt, headers: row.headers, payload: row.payload } : {}),
        })),
      },
    });
    return changed;
  }

  /** All rows exist, are pending or dead, and no relay holds them; otherwise nothing is changed. */
  private async eligible(service: string, ids: string[], verb: string): Promise<OutboxMessage[]> {
    const rows = await this.store(service).findByIds(ids);
    const found = new Set(rows.map((row) => row.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0)
      throw new NotFoundException(`Service ${service} has no outbox row ${missing.slice(0, 10).join(', ')}.`);
    const now = this.options.now();
    const refused = rows.flatMap((row) => {
      const refusal = operatorRefusal(row, now);
      return refusal === null ? [] : [`${row.id} is ${refusal}`];
    });
    if (refused.length > 0) {
      throw new ConflictException(
        `Only pending rows no relay is sending, and dead rows, can be ${verb}: ${refused.join(', ')}. ` +
          'Nothing was changed.',
      );
    }
    return rows;
  }

  private view(row: OutboxMessage, now: number): OutboxRowView {
    return view(row, now, this.redactor);
  }

  private store(service: string): OutboxStore {
    const config = this.options.services.find((candidate) => candidate.name === service);
    if (!config)
      throw new NotFoundException(
        `There is no service database "${service}"; known: ${this.serviceNames().join(', ') || 'none'}.`,
      );
    let store = this.stores.get(service);
    if (!store) {
      store = createOutboxStore(config.dataSource);
      this.stores.set(service, store);
    }
    return store;
  }
}

/** A row as shown: its payload pretty-printed when it is JSON, with the configured fields masked. */
function view(row: OutboxMessage, now: number, redactor: PayloadRedactor): OutboxRowView {
  const payload = redactor.maskText(row.payload).text;
  return {
    seq: row.seq,
    id: row.id,
    producerGroup: row.producerGroup,
    topic: row.topic,
    key: row.key,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.createdAt,
    nextAttemptAt: row.nextAttemptAt,
    deliverAt: row.deliverAt,
    leasedUntil: row.leaseUntil !== null && row.leaseUntil >= now ? row.leaseUntil : null,
    lastError: row.lastError,
    headers: safeJson<Record<string, string>>(row.headers, {}),
    tags: row.tags === null ? [] : safeJson<string[]>(row.tags, []),
    payload,
    ageMs: Math.max(0, now - row.createdAt),
  };
}

function safeJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
