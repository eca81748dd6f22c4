import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';
import { AuditLog, type AuditOutcome } from './audit-log.service';

/** One refusal or failed login, as the audit log aggregates them. */
export interface Refusal {
  /** e.g. `access.refused`, `auth.login` (failed), `auth.login.throttled`. */
  action: string;
  /** Who: the user or token, or the username a login named. */
  actor: string;
  role: string;
  /** What, including the client address, e.g. `POST /console/api/admin/users from 10.0.0.7`. */
  target: string;
  outcome: AuditOutcome;
  /** Said once, on the entry's first refusal: why it was refused. */
  details?: Record<string, unknown>;
}

/** Refusals are aggregated per hour: one entry per (action, actor, target) and hour, counting them. */
const BUCKET_MS = 3_600_000;
/** Distinct entries an hour; past them, one overflow entry counts the rest, so a flood adds at most this many rows. */
export const MAX_REFUSAL_ENTRIES_PER_HOUR = 50;
const FLUSH_EVERY_MS = 1_000;

interface Open {
  id: number;
  /** Refusals not yet added to the stored count. */
  unsaved: number;
  lastAt: number;
}

/**
 * Audits refused requests (403), throttled and refused logins (429, 503) and failed logins without letting a
 * flood of them fill the log. The first refusal of a kind in an hour writes an entry (count 1) at once, so it is
 * visible right away; the next ones of that kind only raise its count (written at most once a second). Past
 * MAX_REFUSAL_ENTRIES_PER_HOUR kinds in one hour, a single `audit.refusals.overflow` entry counts the rest per
 * action.
 */
@Injectable()
export class RefusalAudit implements OnModuleDestroy {
  private bucket = -1;
  private readonly open = new Map<string, Open>();
  private overflow: { id: number; byAction: Record<string, number>; unsaved: number } | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly audit: AuditLog,
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
  ) {
    audit.onBeforeRead(() => this.flush());
  }

  record(refusal: Refusal): void {
    const now = this.options.now();
    const bucket = Math.floor(now / BUCKET_MS);
    if (bucket !== this.bucket) {
      this.flush();
      this.bucket = bucket;
      this.open.clear();
      this.overflow = null;
    }
    const key = `${refusal.action}\n${refusal.actor}\n${refusal.target}`;
    const open = this.open.get(key);
    if (open) {
      open.unsaved += 1;
      open.lastAt = now;
      this.schedule();
      return;
    }
    if (this.open.size < MAX_REFUSAL_ENTRIES_PER_HOUR) {
      const entry = this.audit.record({
        actor: refusal.actor.slice(0, 128),
        role: refusal.role,
        action: refusal.action,
        target: refusal.target,
        count: 1,
        outcome: refusal.outcome,
        details: { ...refusal.details, firstAt: now, lastAt: now, aggregatedPer: 'hour' },
      });
      this.open.set(key, { id: entry.id, unsaved: 0, lastAt: now });
      return;
    }
    if (!this.overflow) {
      const byAction = { [refusal.action]: 1 };
      const entry = this.audit.record({
        actor: 'many',
        role: 'none',
        action: 'audit.refusals.overflow',
        target: `more than ${MAX_REFUSAL_ENTRIES_PER_HOUR} kinds of refusal this hour`,
        count: 1,
        outcome: 'refused',
        details: { byAction, firstAt: now, lastAt: now },
      });
      this.overflow = { id: entry.id, byAction, unsaved: 0 };
      return;
    }
    this.overflow.byAction[refusal.action] = (this.overflow.byAction[refusal.action] ?? 0) + 1;
    this.overflow.unsaved += 1;
    this.schedule();
  }

  /** Writes the counts not yet stored. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.store.db.open) return;
    const raise = this.store.db.prepare(
      "UPDATE audit SET count = count + ?, details = json_set(COALESCE(details, '{}'), '$.lastAt', ?) WHERE id = ?",
    );
    const overflow = this.overflow;
    this.store.db.transaction(() => {
      for (const open of this.open.values()) {
        if (open.unsaved === 0) continue;
        raise.run(open.unsaved, open.lastAt, open.id);
        open.unsaved = 0;
      }
      if (overflow && overflow.unsaved > 0) {
        this.store.db
          .prepare(
            "UPDATE audit SET count = count + ?, details = json_set(COALESCE(details, '{}'), '$.byAction', json(?), '$.lastAt', ?) WHERE id = ?",
          )
          .run(overflow.unsaved, JSON.stringify(overflow.byAction), this.options.now(), overflow.id);
        overflow.unsaved = 0;
      }
    })();
  }

  onModuleDestroy(): void {
    this.flush();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }
}
