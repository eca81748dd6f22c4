import { ReliableMqError } from './reliable-mq.error';

export class TransactionNotFoundError extends ReliableMqError {
  readonly code = 'TRANSACTION_NOT_FOUND';

  constructor(readonly txId: string) {
    super(
      `No half message has transaction id ${JSON.stringify(txId)}; use the txId that sendHalf returned (records of resolved half messages are deleted after halfMessageRetentionMs).`,
    );
  }
}
