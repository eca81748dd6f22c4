import { InboxMessage } from './dedup/inbox-message.entity';
import { OutboxMessageEntity } from './outbox/outbox-message.entity';
import { HalfMessageRecord } from './transactions/half-message.entity';

/**
 * Add these to your DataSource's `entities` so the framework's tables (outbox, inbox, half messages) are mapped.
 * They describe what the framework's migrations create on SQLite, PostgreSQL and MySQL/MariaDB, so either
 * `synchronize: true` or the migrations may create the tables, and `migration:generate` leaves them alone.
 */
export const reliableMqEntities = [OutboxMessageEntity, InboxMessage, HalfMessageRecord];
