import type { HalfMessageState, HalfResolution, HalfResolvedBy } from '../engine.types';
import { InvalidArgumentError, TransactionNotFoundError, TransactionStateError } from '../errors';
import type { HalfMessageLedger, HalfTransition } from './half-message-ledger';

type Attempted = ConstructorParameters<typeof TransactionStateError>[2];

/** Producers and checkbacks may resolve a discarded message too: a late answer is still the producer's truth. */
const RESOLVABLE: readonly HalfMessageState[] = ['unresolved', 'discarded'];
/** Operators act on the discarded list only. */
const OPERATOR_FROM: readonly HalfMessageState[] = ['discarded'];

export interface HalfResolutionsOptions {
  now(): number;
  /** Half messages an operator may settle in one call. */
  maxIds: number;
  /** The setting that raises `maxIds`, named in the refusal; omitted when it is fixed. */
  maxIdsSetting?: string;
  /** Called after a commit changed a record, so that what delivers committed messages can go at once. */
  onCommitted?: () => void;
}

/**
 * Commits and rollbacks of half messages, by their producer, a checkback or an operator, over any ledger. The
 * ledger's conditional update decides; the record read afterwards only explains a refusal. A producer's or a
 * checkback's answer is idempotent (the message already in that state is a success), an operator's is not, and an
 * operator's call settles all of its half messages or none.
 */
export class HalfMessageResolutions {
  constructor(
    private readonly ledger: HalfMessageLedger,
    private readonly options: HalfResolutionsOptions,
  ) {}

  async commit(txId: unknown, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    return this.resolve(checkTxId(txId), 'committed', by, null);
  }

  async rollback(txId: unknown, reason: unknown = null, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    if (reason !== null && reason !== undefined && typeof reason !== 'string') {
      throw new InvalidArgumentError('A rollback reason must be a string.');
    }
    return this.resolve(checkTxId(txId), 'rolled_back', by, (reason as string | null) ?? `rolled back by the ${by}`);
  }

  /** Commits discarded half messages by hand: all of them or none. */
  async commitDiscarded(txIds: readonly string[]): Promise<string[]> {
    return this.settleByOperator(txIds, 'committed', null, 'commit a discarded');
  }

  /** Discards (rolls back) discarded half messages by hand with a reason kept for audit: all of them or none. */
  async discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]> {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding half messages needs a non-empty reason.');
    }
    return this.settleByOperator(txIds, 'rolled_back', reason, 'discard a discarded');
  }

  private async resolve(
    txId: string,
    to: 'committed' | 'rolled_back',
    by: HalfResolvedBy,
    reason: string | null,
  ): Promise<HalfResolution> {
    const attempted: Attempted = to === 'committed' ? 'commit' : 'rollback';
    const change: HalfTransition = { txId, from: RESOLVABLE, to, by, reason };
    const [applied] = await this.ledger.transition([change], this.options.now(), (refused, found) =>
      explainRefusal(refused, found?.state, attempted, true),
    );
    const { half, changed } = applied!;
    if (!half) throw new TransactionNotFoundError(txId);
    if (changed && to === 'committed') this.options.onCommitted?.();
    return { txId, messageId: half.messageId, topic: half.topic, state: to, alreadyResolved: !changed };
  }

  private async settleByOperator(
    txIds: readonly string[],
    to: 'committed' | 'rolled_back',
    reason: string | null,
    attempted: Attempted,
  ): Promise<string[]> {
    const ids = this.checkIds(txIds);
    const changes = ids.map((txId): HalfTransition => ({ txId, from: OPERATOR_FROM, to, by: 'operator', reason }));
    await this.ledger.transition(changes, this.options.now(), (refused, found) =>
      explainRefusal(refused, found?.state, attempted, false),
    );
    if (to === 'committed') this.options.onCommitted?.();
    return [...ids];
  }

  private checkIds(txIds: readonly string[]): readonly string[] {
    if (!Array.isArray(txIds) || txIds.length === 0 || txIds.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw new InvalidArgumentError('Pass a non-empty array of transaction ids (strings).');
    }
    if (txIds.length > this.options.maxIds) {
      const setting = this.options.maxIdsSetting ? ` (${this.options.maxIdsSetting})` : '';
      throw new InvalidArgumentError(`At most ${this.options.maxIds} half messages per call${setting}.`);
    }
    if (new Set(txIds).size !== txIds.length) throw new InvalidArgumentError('The transaction ids must be distinct.');
    return txIds;
  }
}

/** A refused change: unknown id, or a state it cannot leave; the target state itself is fine when `idempotent`. */
function explainRefusal(
  change: HalfTransition,
  state: HalfMessageState | undefined,
  attempted: Attempted,
  idempotent: boolean,
): void {
  if (state === undefined) throw new TransactionNotFoundError(change.txId);
  if (state === change.to && idempotent) return;
  throw new TransactionStateError(change.txId, state, attempted);
}

export function checkTxId(txId: unknown): string {
  if (typeof txId !== 'string' || txId.length === 0 || txId.length > 128) {
    throw new InvalidArgumentError(`A transaction id is a string of 1–128 characters; got ${JSON.stringify(txId)}.`);
  }
  return txId;
}
