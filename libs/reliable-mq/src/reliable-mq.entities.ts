import { InboxMessage } from './dedup/inbox-message.entity';
import { OutboxMessageEntity } from './outbox/outbox-message.entity';

/** Add these to your DataSource's `entities` so the outbox and inbox tables are mapped. */
export const reliableMqEntities = [OutboxMessageEntity, InboxMessage];
