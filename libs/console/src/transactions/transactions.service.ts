import {
  Inject,
  Injectable,
  NotFoundException,
  NotImplementedException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { halfMessageView, type HalfMessage, type HalfMessageView as EngineHalfMessageView } from '@reliable-mq/engine';
import type { TransactionalOperations } from '@reliable-mq/nestjs';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { payloadView, type PayloadView } from '../dead-letters/dead-letter.view';
import { BrokerReachability } from '../http/broker-reachability.service';
import { PayloadRedactor } from '../redaction/payload-redactor';
import type { ConsolePrincipal } from '../http/console-request';
import { isDefaultSort, sortRows, type SortOrder } from '../http/sort';
import { HALF_MESSAGE_SORT, type HalfMessageSortColumn } from './transactions.dto';

export type HalfMessageView = EngineHalfMessageView<PayloadView>;

export type HalfState = 'unresolved' | 'discarded';

/** Brokers list half messages oldest first only; another order is applied here over at most this many matches. */
export const MAX_SORTED_HALF_MESSAGES = 10_000;
const COLLECT_PAGE = 1000;

@Injectable()
export class TransactionsService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly audit: AuditLog,
    private readonly redactor: PayloadRedactor,
    private readonly broker: BrokerReachability,
  ) {}

  get supported(): boolean {
    return this.options.broker.transport.transactions !== undefined;
  }

  async counts(): Promise<{ supported: boolean; unresolved: number; discarded: number }> {
    const tx = this.options.broker.transport.transactions;
    if (!tx) return { supported: false, unresolved: 0, discarded: 0 };
    const [unresolved, discarded] = await Promise.all([
      this.broker.call(() => tx.listUnresolved({ limit: 1 })),
      this.broker.call(() => tx.listDiscarded({ limit: 1 })),
    ]);
    return { supported: true, unresolved: unresolved.total, discarded: discarded.total };
  }

  async list(
    state: HalfState,
    filter: { producerGroup?: string; topic?: string; id?: string },
    limit: number,
    offset: number,
    order: SortOrder<HalfMessageSortColumn> = HALF_MESSAGE_SORT.default,
  ): Promise<{ supported: boolean; state: HalfState; total: number; items: HalfMessageView[] }> {
    const tx = this.options.broker.transport.transactions;
    if (!tx) return { supported: false, state, total: 0, items: [] };
    const listPage = (pageLimit: number, pageOffset: number) => {
      const query = { ...definedOnly(filter), limit: pageLimit, offset: pageOffset };
      return this.broker.call(() => (state === 'unresolved' ? tx.listUnresolved(query) : tx.listDiscarded(query)));
    };
    if (isDefaultSort(HALF_MESSAGE_SORT, order)) {
      const page = await listPage(limit, offset);
      return { supported: true, state, total: page.total, items: page.items.map((half) => view(half, this.redactor)) };
    }
    const first = await listPage(COLLECT_PAGE, 0);
    if (first.total > MAX_SORTED_HALF_MESSAGES) {
      throw new UnprocessableEntityException(
        `Sorting by ${order.column} works on at most ${MAX_SORTED_HALF_MESSAGES} half messages and ${first.total} match. ` +
          'Narrow the filter (producer group, topic), or sort by sentAt.',
      );
    }
    const halves = [...first.items];
    for (let at = COLLECT_PAGE; at < first.total; at += COLLECT_PAGE) {
      const page = await listPage(COLLECT_PAGE, at);
      if (page.items.length === 0) break;
      halves.push(...page.items);
    }
    const unique = [...new Map(halves.map((half) => [half.txId, half])).values()];
    const sorted = sortRows(unique, order, halfSortValue);
    return {
      supported: true,
      state,
      total: first.total,
      items: sorted.slice(offset, offset + limit).map((half) => view(half, this.redactor)),
    };
  }

  async commit(
    txIds: string[],
    reason: string | undefined,
    principal: ConsolePrincipal,
  ): Promise<{ committed: string[] }> {
    const tx = this.require();
    const unique = [...new Set(txIds)];
    const halves = await this.requireDiscarded(tx, unique);
    const committed = await this.broker.call(() => tx.commitDiscarded(unique));
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'transactions.commit',
      target: unique.length === 1 ? `half-message ${unique[0]}` : `half-messages: ${unique.length} selected`,
      count: committed.length,
      reason: reason ?? null,
      outcome: 'ok',
      details: { halves: halves.map(brief) },
    });
    return { committed };
  }

  async discard(txIds: string[], reason: string, principal: ConsolePrincipal): Promise<{ discarded: string[] }> {
    const tx = this.require();
    const unique = [...new Set(txIds)];
    const halves = await this.requireDiscarded(tx, unique);
    const discarded = await this.broker.call(() => tx.discardDiscarded(unique, reason.trim()));
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'transactions.discard',
      target: unique.length === 1 ? `half-message ${unique[0]}` : `half-messages: ${unique.length} selected`,
      count: discarded.length,
      reason: reason.trim(),
      outcome: 'ok',
      details: { halves: halves.map(brief) },
    });
    return { discarded };
  }

  private require(): TransactionalOperations {
    const tx = this.options.broker.transport.transactions;
    if (!tx) throw new NotImplementedException('This broker has no transactional (half) messages.');
    return tx;
  }

  /** Only discarded half messages are settled by hand; unresolved ones are still being checked back. */
  private async requireDiscarded(tx: TransactionalOperations, txIds: string[]): Promise<HalfMessage[]> {
    const found = await Promise.all(
      txIds.map(async (txId) =>
        (await this.broker.call(() => tx.listDiscarded({ id: txId, limit: 10 }))).items.find(
          (half) => half.txId === txId,
        ),
      ),
    );
    const missing = txIds.filter((_, index) => found[index] === undefined);
    if (missing.length > 0) {
      throw new NotFoundException(
        `No discarded half message has transaction id ${missing.slice(0, 10).join(', ')}; only discarded ones can be settled by hand.`,
      );
    }
    return found as HalfMessage[];
  }
}

function halfSortValue(half: HalfMessage, column: HalfMessageSortColumn): string | number | null {
  switch (column) {
    case 'txId':
      return half.txId;
    case 'producerGroup':
      return half.producerGroup;
    case 'topic':
      return half.topic;
    case 'key':
      return half.key;
    case 'sentAt':
      return half.sentAt;
    case 'checks':
      return half.checkCount;
    case 'nextCheckAt':
      return half.nextCheckAt;
    case 'reason':
      return half.reason;
  }
}

function view(half: HalfMessage, redactor: PayloadRedactor): HalfMessageView {
  return halfMessageView(half, payloadView(half.body, redactor));
}

function brief(half: HalfMessage): Record<string, unknown> {
  return {
    txId: half.txId,
    messageId: half.messageId,
    producerGroup: half.producerGroup,
    topic: half.topic,
    key: half.key,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
