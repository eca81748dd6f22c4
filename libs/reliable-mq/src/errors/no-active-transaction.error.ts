import { ReliableMqError } from '@reliable-mq/engine';

export class NoActiveTransactionError extends ReliableMqError {
  readonly code = 'NO_ACTIVE_TRANSACTION';

  constructor() {
    super(
      'publish() needs the EntityManager of an active transaction so the outbox row commits with your business data. ' +
        'Call it inside publisher.transaction(async (manager) => …) or dataSource.transaction(…), passing { manager }.',
    );
  }
}
