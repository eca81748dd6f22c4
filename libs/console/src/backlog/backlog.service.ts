import { ConflictException, ForbiddenException, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { backlogTopicOf, type OffsetResetPlan, type TopicInfo } from '@reliable-mq/engine';
import { randomUUID } from 'node:crypto';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { DEDUP_CONFIRMATION_CODE, formatDuration } from '../dead-letters/dedup-window-confirmation';
import { BrokerReachability } from '../http/broker-reachability.service';
import type { ConsolePrincipal } from '../http/console-request';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';
import type { ConsoleBacklogEntry, ConsoleBacklogSource } from './backlog-source.interface';
import { BacklogMoveTracker, type BacklogMoveView } from './backlog-move-tracker';
import type { ExpandQueuesDto, RedistributeDto, ResetOffsetsDto } from './backlog.dto';

/** How long a new move is watched for an immediate refusal before the API answers that it runs. */
const EARLY_REFUSAL_MS = 300;

export type BacklogEntryView = ConsoleBacklogEntry & { dedupWindowMs: number | null };

export interface BacklogView {
  at: number;
  /** False when the broker gives no backlog report; `notes` say why. */
  supported: boolean;
  error: string | null;
  actions: { expand: boolean; redistribute: boolean; reset: boolean };
  notes: string[];
  entries: BacklogEntryView[];
  moves: BacklogMoveView[];
}

/** An offset reset before it is done, with what an operator must know about it. */
export interface ResetPreview extends OffsetResetPlan {
  dedupWindowMs: number | null;
  /** Set when moving back would deliver again messages older than the group's dedup window. */
  dedupWarning: string | null;
}

/**
 * The Backlog page's reads and actions: per group and topic, how far behind it is and when it would catch up, and
 * the admin actions of the runbook (expand a topic's queues, move a group's backlog onto more queues, skip to a
 * time), each with a reason and an audit entry.
 */
@Injectable()
export class BacklogService {
  private readonly logger = new Logger('ReliableMqConsole');

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly catalog: ConsumerCatalog,
    private readonly audit: AuditLog,
    private readonly broker: BrokerReachability,
    private readonly moves: BacklogMoveTracker,
  ) {}

  private get source(): ConsoleBacklogSource | undefined {
    return this.options.broker.backlog;
  }

  async view(): Promise<BacklogView> {
    const source = this.source;
    const view: BacklogView = {
      at: this.options.now(),
      supported: source !== undefined,
      error: null,
      actions: {
        expand: source?.expandQueues !== undefined,
        redistribute: source?.redistribute !== undefined,
        reset: source?.resetOffsets !== undefined && source.previewReset !== undefined,
      },
      notes: source?.notes ?? [],
      entries: [],
      moves: this.moves.list(),
    };
    if (!source) {
      view.notes = ['This broker gives no backlog report: pass broker.backlog in the console options.'];
      return view;
    }
    try {
      const report = await this.broker.call(async () => source.report());
      view.at = report.at;
      view.entries = report.entries.map((entry) => ({
        ...entry,
        dedupWindowMs: this.catalog.dedupWindowOf(entry.group),
      }));
    } catch (error) {
      view.error = (error as Error).message;
    }
    return view;
  }

  async expand(body: ExpandQueuesDto, principal: ConsolePrincipal): Promise<TopicInfo> {
    const expand = this.require('expandQueues', 'add queues to a topic');
    const before = (await this.view()).entries.find((entry) => entry.topic === body.topic)?.queueCount ?? null;
    const entry = { topic: body.topic, queueCount: body.queueCount, before };
    try {
      const topic = await this.broker.call(async () => expand(body.topic, body.queueCount));
      this.record(principal, 'backlog.expand', `topic ${body.topic}`, 0, body.reason, 'ok', entry);
      return topic;
    } catch (error) {
      this.record(principal, 'backlog.expand', `topic ${body.topic}`, 0, body.reason, 'failed', {
        ...entry,
        error: (error as Error).message,
      });
      throw error;
    }
  }

  /**
   * Starts the move and answers once it runs; its progress is read with `move(id)`, its end is audited. A move the
   * broker refuses at once (an unknown topic, a broadcasting group, a missing queue count) is answered with that
   * refusal instead, so bad input gets its sentence rather than a move that failed.
   */
  async startRedistribute(body: RedistributeDto, principal: ConsolePrincipal): Promise<BacklogMoveView> {
    const redistribute = this.require('redistribute', 'move a backlog');
    const operation = randomUUID();
    const toTopic = body.toTopic ?? backlogTopicOf(body.group);
    const target = `group ${body.group}: ${body.fromTopic} → ${toTopic}`;
    const details = { operation, ...pick(body, ['group', 'fromTopic', 'toQueueCount', 'expandTo']), toTopic };
    this.record(principal, 'backlog.redistribute', target, 0, body.reason, 'ok', details);
    const run = this.broker.call(() =>
      redistribute({
        group: body.group,
        fromTopic: body.fromTopic,
        ...(body.toTopic !== undefined ? { toTopic: body.toTopic } : {}),
        ...(body.toQueueCount !== undefined ? { toQueueCount: body.toQueueCount } : {}),
        ...(body.expandTo !== undefined ? { expandTo: body.expandTo } : {}),
        operation,
      }),
    );
    const move = this.moves.start(
      operation,
      { ...body, toTopic },
      principal.name,
      run,
      this.source?.progress?.bind(this.source),
    );
    run.then(
      ({ moved }) =>
        this.record(principal, 'backlog.redistribute.done', target, moved, body.reason, 'ok', { ...details, moved }),
      (error: unknown) => {
        this.logger.warn(`Backlog move ${operation} failed: ${(error as Error).message}`);
        this.record(
          principal,
          'backlog.redistribute.done',
          target,
          this.moves.get(operation).moved,
          body.reason,
          'failed',
          {
            ...details,
            error: (error as Error).message,
          },
        );
      },
    );
    const refusal = await Promise.race([
      run.then(
        () => null,
        (error: unknown) => error,
      ),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), EARLY_REFUSAL_MS)),
    ]);
    if (refusal !== null) throw refusal;
    return { ...this.moves.get(operation), id: move.id };
  }

  move(id: string): Promise<BacklogMoveView> {
    return this.moves.refresh(id);
  }

  async previewReset(group: string, topic: string, at: number): Promise<ResetPreview> {
    const preview = this.require('previewReset', 'reset offsets');
    const source = this.source!;
    const report = await this.broker.call(async () => source.report());
    if (!report.entries.some((entry) => entry.group === group && entry.topic === topic)) {
      throw new NotFoundException(
        `Group ${group} has never consumed topic ${topic} on this broker: there are no offsets to reset. ` +
          'The Backlog page lists every group and topic.',
      );
    }
    const plan = await this.broker.call(async () => preview(group, topic, at));
    return this.withDedupWarning(plan);
  }

  /**
   * Resets the group's offsets to `at`. The plan is computed again by the broker while the group is paused, so the
   * audit entry counts what was really skipped; moving back over messages past the dedup window needs
   * `confirmDedupWindow`.
   */
  async reset(body: ResetOffsetsDto, principal: ConsolePrincipal): Promise<ResetPreview> {
    const reset = this.require('resetOffsets', 'reset offsets');
    const before = await this.previewReset(body.group, body.topic, body.at);
    if (before.dedupWarning && body.confirmDedupWindow !== true) {
      throw new ConflictException({
        statusCode: 409,
        error: 'Conflict',
        code: DEDUP_CONFIRMATION_CODE,
        count: before.redelivered,
        message: `${before.dedupWarning} Send confirmDedupWindow: true to reset anyway.`,
      });
    }
    const target = `group ${body.group} on ${body.topic}`;
    try {
      const plan = this.withDedupWarning(await this.broker.call(() => reset(body.group, body.topic, body.at)));
      this.record(principal, 'backlog.reset-offsets', target, plan.skipped + plan.redelivered, body.reason, 'ok', {
        at: body.at,
        atIso: new Date(body.at).toISOString(),
        skipped: plan.skipped,
        redelivered: plan.redelivered,
        oldestSkippedAt: plan.oldestSkippedAt,
        newestSkippedAt: plan.newestSkippedAt,
        oldestRedeliveredAt: plan.oldestRedeliveredAt,
        queues: plan.queues,
        ...(before.dedupWarning ? { dedupWindowConfirmed: true } : {}),
      });
      return plan;
    } catch (error) {
      this.record(principal, 'backlog.reset-offsets', target, 0, body.reason, 'failed', {
        at: body.at,
        error: (error as Error).message,
      });
      throw error;
    }
  }

  private withDedupWarning(plan: OffsetResetPlan): ResetPreview {
    const window = this.catalog.dedupWindowOf(plan.group);
    const oldest = plan.oldestRedeliveredAt;
    const past = plan.redelivered > 0 && window !== null && oldest !== null && oldest < this.options.now() - window;
    return {
      ...plan,
      dedupWindowMs: window,
      dedupWarning: past
        ? `Moving back delivers ${plan.redelivered} message(s) again, the oldest stored ` +
          `${formatDuration(this.options.now() - oldest)} ago, past the dedup window of ${plan.group} ` +
          `(${formatDuration(window)}): their dedup records may be gone, so handlers may run again for work already done.`
        : null,
    };
  }

  private require<K extends 'expandQueues' | 'redistribute' | 'previewReset' | 'resetOffsets'>(
    action: K,
    what: string,
  ): NonNullable<ConsoleBacklogSource[K]> {
    const source = this.source;
    const found = source?.[action];
    if (!source || !found) {
      throw new ConflictException(
        `This broker cannot ${what}${source?.noActionsReason ? `: ${source.noActionsReason}.` : '.'} ` +
          'See the Backlog page for what applies to it.',
      );
    }
    const bound = found.bind(source) as (...args: unknown[]) => unknown;
    // The standalone broker refuses actions to a console that holds only the services' token: say what to change.
    return (async (...args: unknown[]) => {
      try {
        return await bound(...args);
      } catch (error) {
        if ((error as { brokerCode?: unknown }).brokerCode !== 'FORBIDDEN') throw error;
        throw new ForbiddenException(
          `The broker refused: ${(error as Error).message} Give this console the broker's admin token (BROKER_TOKEN ` +
            "of the console set to the broker's BROKER_ADMIN_TOKEN).",
        );
      }
    }) as NonNullable<ConsoleBacklogSource[K]>;
  }

  private record(
    principal: ConsolePrincipal,
    action: string,
    target: string,
    count: number,
    reason: string,
    outcome: 'ok' | 'failed',
    details: Record<string, unknown>,
  ): void {
    this.audit.record({ actor: principal.name, role: principal.role, action, target, count, reason, outcome, details });
  }
}

function pick<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) picked[key] = value[key];
  return picked;
}
