import type { HalfMessageState } from '../engine.types';
import { ReliableMqError } from './reliable-mq.error';

/** A commit of a rolled-back half message, a rollback of a committed one, or an operator action on one not discarded. */
export class TransactionStateError extends ReliableMqError {
  readonly code = 'TRANSACTION_STATE';

  constructor(
    readonly txId: string,
    readonly state: HalfMessageState,
    readonly attempted: 'commit' | 'rollback' | 'commit a discarded' | 'discard a discarded',
  ) {
    super(
      `Cannot ${attempted} half message ${txId}: it is already ${state.replace('_', ' ')}. ` +
        (state === 'rolled_back' || state === 'committed'
          ? 'A resolved transaction is final; send a new message if the outcome changed.'
          : 'List half messages to see its current state.'),
    );
  }
}
