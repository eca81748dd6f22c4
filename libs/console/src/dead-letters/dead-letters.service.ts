import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import type { DeadLetter, ResendEdit } from '@reliable-mq/engine';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { BrokerReachability } from '../http/broker-reachability.service';
import type { ConsolePrincipal } from '../http/console-request';
import { RetryJobService, type RetryJobView } from '../jobs/retry-job.service';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { ConsumerCatalog, validationOf } from '../sources/consumer-catalog.service';
import type { BulkRetryDto, RetryDeadLetterDto } from './dead-letter-actions.dto';
import { isDefaultSort, sortRows, type SortOrder } from '../http/sort';
import { DEAD_LETTER_SORT, type DeadLetterFilterDto, type DeadLetterSortColumn } from './dead-letter-filter.dto';
import {
  payloadView,
  summaryOf,
  type DeadLetterDetail,
  type DeadLetterSummary,
  type PayloadView,
} from './dead-letter.view';
import { PayloadRedactor } from '../redaction/payload-redactor';
import { RevealGrants } from '../redaction/reveal-grants.service';
import { auditOf, checkEdit, LIVE_CONSUMER_VALIDATION, type EditCheck } from './edit-validation';
import { deadLetterSortValue, describeFilter, toQuery } from './dead-letter-query';
import { dedupConfirmationNeeded } from './dedup-window-confirmation';

/** Engine page size used while collecting the letters of a "retry all matching". */
const COLLECT_PAGE = 1000;
/**
 * Brokers list dead letters newest first only; another order is applied here, over every match, so it holds across
 * pages. Up to this many matches; a wider filter is asked to narrow down.
 */
export const MAX_SORTED_DEAD_LETTERS = 10_000;
const MAX_HEADERS = 64;
const MAX_HEADERS_BYTES = 64 * 1024;

/** Dead letters as operators see and repair them, on any transport. */
@Injectable()
export class DeadLettersService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly catalog: ConsumerCatalog,
    private readonly audit: AuditLog,
    private readonly jobs: RetryJobService,
    private readonly settings: ConsoleSettingsService,
    private readonly redactor: PayloadRedactor,
    private readonly grants: RevealGrants,
    private readonly broker: BrokerReachability,
  ) {}

  private get deadLetters() {
    return this.options.broker.transport.deadLetters;
  }

  async list(
    filter: DeadLetterFilterDto,
    limit: number,
    offset: number,
    order: SortOrder<DeadLetterSortColumn> = DEAD_LETTER_SORT.default,
  ): Promise<{ total: number; items: DeadLetterSummary[] }> {
    const now = this.options.now();
    if (isDefaultSort(DEAD_LETTER_SORT, order)) {
      const page = await this.broker.call(() => this.deadLetters.list(toQuery(filter, limit, offset)));
      return { total: page.total, items: page.items.map((letter) => this.summary(letter, now)) };
    }
    const first = await this.broker.call(() => this.deadLetters.list(toQuery(filter, COLLECT_PAGE, 0)));
    if (first.total > MAX_SORTED_DEAD_LETTERS) {
      throw new UnprocessableEntityException(
        `Sorting by ${order.column} works on at most ${MAX_SORTED_DEAD_LETTERS} dead letters and ${first.total} match. ` +
          'Narrow the filter (group, topic, time range), or sort by deadAt.',
      );
    }
    const letters = [...first.items];
    for (let at = COLLECT_PAGE; at < first.total; at += COLLECT_PAGE) {
      const page = await this.broker.call(() => this.deadLetters.list(toQuery(filter, COLLECT_PAGE, at)));
      if (page.items.length === 0) break;
      letters.push(...page.items);
    }
    const unique = [...new Map(letters.map((letter) => [letter.id, letter])).values()];
    const sorted = sortRows(unique, order, (letter, column) => deadLetterSortValue(letter, column, now));
    return {
      total: first.total,
      items: sorted.slice(offset, offset + limit).map((letter) => this.summary(letter, now)),
    };
  }

  /** One letter with its history; its payload masked (see PayloadRedactor) unless `revealed`. */
  async detail(id: number, revealed = false): Promise<DeadLetterDetail> {
    const letter = await this.require(id);
    const now = this.options.now();
    const consumer = this.catalog.find(letter.group, letter.topic);
    const related = await this.broker.call(() =>
      this.deadLetters.list({ messageId: letter.originalMessageId, group: letter.group, status: 'any', limit: 100 }),
    );
    const history = related.items
      .filter((other) => other.originalMessageId === letter.originalMessageId)
      .sort((a, b) => a.deadAt - b.deadAt || a.id - b.id)
      .map((other) => this.summary(other, now, true));
    if (!history.some((entry) => entry.id === letter.id)) history.push(this.summary(letter, now, true));
    return {
      ...this.summary(letter, now, true),
      dlqTopic: letter.dlqTopic,
      tags: letter.tags,
      headers: letter.headers,
      payload: payloadView(letter.body, revealed ? undefined : this.redactor),
      validation: !consumer && this.options.broker.validatePayload ? LIVE_CONSUMER_VALIDATION : validationOf(consumer),
      handler: consumer?.handler ?? null,
      history,
    };
  }

  /**
   * The letter's payload with the masked fields in clear, for a principal with the reveal permission (the route
   * checks it). Audited with the reason; a session also sees the real values on the detail page for a while.
   */
  async reveal(
    id: number,
    reason: string,
    principal: ConsolePrincipal,
    sessionId: string | undefined,
  ): Promise<{ id: number; payload: PayloadView; revealedUntil: number | null }> {
    const letter = await this.require(id);
    const target = `dead-letter ${id}`;
    const revealedUntil = sessionId === undefined ? null : this.grants.grant(sessionId, target);
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'payload.reveal',
      target,
      count: 1,
      reason: reason.trim(),
      outcome: 'ok',
      details: {
        group: letter.group,
        topic: letter.topic,
        key: letter.key,
        fields: this.redactor.describe(),
        ...(revealedUntil === null ? {} : { shownOnPagesUntil: revealedUntil }),
      },
    });
    return { id, payload: payloadView(letter.body), revealedUntil };
  }

  /**
   * Resends one letter, as it was or edited; refuses edits the handler's DTO or schema would refuse, checked here or
   * by a live consumer through the broker (see checkEdit).
   */
  async retryOne(
    id: number,
    request: RetryDeadLetterDto,
    principal: ConsolePrincipal,
  ): Promise<{ resent: number[]; edited: boolean }> {
    const letter = await this.require(id);
    if (letter.status !== 'dead') {
      throw new ConflictException(`Dead letter ${id} was already ${letter.status}; only dead ones can be retried.`);
    }
    const summary = this.summary(letter, this.options.now());
    if (summary.olderThanDedupWindow && request.confirmDedupWindow !== true) {
      throw dedupConfirmationNeeded(1, [summary]);
    }
    const edit: ResendEdit = {};
    let editedPayload: unknown;
    let editCheck: EditCheck | undefined;
    if (request.payload !== undefined) {
      // The editor showed masked fields; where the edit still holds a mask, the real value is sent.
      editedPayload = this.redactor.active
        ? this.redactor.restore(request.payload, parseJson(letter.body))
        : request.payload;
      const body = JSON.stringify(editedPayload);
      this.checkEditSize(body);
      editCheck = await checkEdit({
        letter,
        body,
        consumer: this.catalog.find(letter.group, letter.topic),
        source: this.options.broker,
        confirmUnchecked: request.confirmUnchecked === true,
      });
      edit.body = body;
    }
    if (request.headers !== undefined) edit.headers = checkHeaders(request.headers);
    const edited = edit.body !== undefined || edit.headers !== undefined;
    const details: Record<string, unknown> = {
      group: letter.group,
      topic: letter.topic,
      key: letter.key,
      messageId: letter.originalMessageId,
      dedupWindowConfirmed: summary.olderThanDedupWindow,
    };
    if (edit.body !== undefined) {
      // Masked and cut by the audit log.
      details.payloadBefore = payloadView(letter.body).text;
      details.payloadAfter = JSON.stringify(editedPayload, null, 2);
      if (editCheck) Object.assign(details, auditOf(editCheck));
    }
    if (edit.headers !== undefined) details.headersAfter = edit.headers;
    let resent: number[];
    try {
      resent = await this.broker.call(() => this.deadLetters.resend([id], edited ? edit : undefined));
    } catch (error) {
      this.audit.record({
        actor: principal.name,
        role: principal.role,
        action: edited ? 'dead-letters.edit-retry' : 'dead-letters.retry',
        target: `dead-letter ${id}`,
        count: 0,
        reason: request.reason ?? null,
        outcome: 'failed',
        details: { ...details, error: (error as Error).message },
      });
      throw error;
    }
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: edited ? 'dead-letters.edit-retry' : 'dead-letters.retry',
      target: `dead-letter ${id}`,
      count: resent.length,
      reason: request.reason ?? null,
      outcome: 'ok',
      details,
    });
    return { resent, edited };
  }

  /** Starts a rate-limited bulk retry of a selection or of everything matching a filter now. */
  async retryMany(request: BulkRetryDto, principal: ConsolePrincipal): Promise<RetryJobView> {
    if ((request.ids === undefined) === (request.filter === undefined)) {
      throw new BadRequestException(
        'Give either ids (a selection) or filter (all matching), not both and not neither.',
      );
    }
    const rate = request.ratePerSec ?? this.settings.get().defaultRetryRatePerSec;
    if (rate > this.options.retry.maxRatePerSec) {
      throw new BadRequestException(`ratePerSec must be at most ${this.options.retry.maxRatePerSec}; got ${rate}.`);
    }
    const now = this.options.now();
    let letters: DeadLetter[];
    let scope: string;
    const details: Record<string, unknown> = {};
    if (request.ids !== undefined) {
      letters = await this.requireAll(request.ids);
      scope = letters.length === 1 ? `dead-letter ${letters[0]!.id}` : `dead-letters: ${letters.length} selected`;
    } else {
      letters = await this.collect(request.filter!, now);
      scope = `dead-letters matching ${describeFilter(request.filter!)}`;
      details.filter = request.filter;
    }
    const dead = letters.filter((letter) => letter.status === 'dead');
    if (dead.length === 0) throw new ConflictException('None of these messages is dead any more; nothing to retry.');
    const old = dead.map((letter) => this.summary(letter, now)).filter((summary) => summary.olderThanDedupWindow);
    if (old.length > 0 && request.confirmDedupWindow !== true) throw dedupConfirmationNeeded(old.length, old);
    details.olderThanDedupWindow = old.length;
    details.notDead = letters.length - dead.length;
    return this.jobs.start({
      ids: dead.map((letter) => letter.id),
      ratePerSec: rate,
      scope,
      reason: request.reason ?? null,
      principal,
      details,
    });
  }

  async discard(ids: number[], reason: string, principal: ConsolePrincipal): Promise<{ discarded: number[] }> {
    const unique = [...new Set(ids)];
    const letters = await this.requireAll(unique);
    const notDead = letters.filter((letter) => letter.status !== 'dead');
    if (notDead.length > 0) {
      throw new ConflictException(
        `Only dead letters can be discarded; ${notDead.map((letter) => `${letter.id} is ${letter.status}`).join(', ')}.`,
      );
    }
    const target = unique.length === 1 ? `dead-letter ${unique[0]}` : `dead-letters: ${unique.length} selected`;
    const discarded = await this.broker.call(() => this.deadLetters.discard(unique, reason.trim()));
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'dead-letters.discard',
      target,
      count: discarded.length,
      reason: reason.trim(),
      outcome: 'ok',
      details: {
        ids: unique,
        letters: letters.slice(0, 100).map((letter) => ({
          id: letter.id,
          group: letter.group,
          topic: letter.topic,
          key: letter.key,
          messageId: letter.originalMessageId,
        })),
      },
    });
    return { discarded };
  }

  private summary(letter: DeadLetter, now: number, fullReason = false): DeadLetterSummary {
    return summaryOf(letter, now, this.catalog.dedupWindowOf(letter.group), fullReason);
  }

  private async require(id: number): Promise<DeadLetter> {
    const letter = await this.broker.call(() => this.deadLetters.get(id));
    if (!letter) throw new NotFoundException(`There is no dead letter ${id}.`);
    return letter;
  }

  private async requireAll(ids: readonly number[]): Promise<DeadLetter[]> {
    const letters = await Promise.all(ids.map((id) => this.broker.call(() => this.deadLetters.get(id))));
    const missing = ids.filter((_, index) => letters[index] === undefined);
    if (missing.length > 0) {
      throw new NotFoundException(
        `There is no dead letter ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}.`,
      );
    }
    return letters as DeadLetter[];
  }

  /** Every dead letter matching the filter now, up to `maxMessages`; a wider filter is refused. */
  private async collect(filter: DeadLetterFilterDto, now: number): Promise<DeadLetter[]> {
    const max = this.options.retry.maxMessages;
    // Pinning `to` keeps letters that die meanwhile out of the snapshot, so paging does not shift under it.
    const pinned: DeadLetterFilterDto = { ...filter, status: 'dead', to: Math.min(filter.to ?? now + 1, now + 1) };
    const first = await this.broker.call(() => this.deadLetters.list(toQuery(pinned, COLLECT_PAGE, 0)));
    if (first.total > max) {
      throw new UnprocessableEntityException(
        `The filter matches ${first.total} dead letters; one bulk retry takes at most ${max}. Narrow the filter (group, topic, time range).`,
      );
    }
    const letters = [...first.items];
    const seen = new Set(letters.map((letter) => letter.id));
    for (let offset = COLLECT_PAGE; offset < first.total && offset < max + COLLECT_PAGE; offset += COLLECT_PAGE) {
      const page = await this.broker.call(() => this.deadLetters.list(toQuery(pinned, COLLECT_PAGE, offset)));
      for (const letter of page.items) {
        if (!seen.has(letter.id)) {
          seen.add(letter.id);
          letters.push(letter);
        }
      }
      if (page.items.length === 0) break;
    }
    return letters;
  }

  private checkEditSize(body: string): void {
    if (Buffer.byteLength(body, 'utf8') > this.options.bodyLimitBytes) {
      throw new BadRequestException(`The edited payload is larger than ${this.options.bodyLimitBytes} bytes.`);
    }
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function checkHeaders(headers: Record<string, unknown>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw new BadRequestException(`At most ${MAX_HEADERS} headers.`);
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw new BadRequestException(`Header "${name}" must be a string.`);
    if (name.length === 0 || name.length > 256) throw new BadRequestException('Header names are 1-256 characters.');
  }
  if (Buffer.byteLength(JSON.stringify(headers), 'utf8') > MAX_HEADERS_BYTES) {
    throw new BadRequestException(`Headers are limited to ${MAX_HEADERS_BYTES} bytes.`);
  }
  return headers as Record<string, string>;
}
