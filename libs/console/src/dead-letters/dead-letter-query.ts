import type { DeadLetter, DeadLetterQuery } from '@reliable-mq/engine';
import type { DeadLetterFilterDto, DeadLetterSortColumn } from './dead-letter-filter.dto';

/** The console's dead-letter filter as the transports' query: dead letters only unless a status is given. */
export function toQuery(filter: DeadLetterFilterDto, limit: number, offset: number): DeadLetterQuery {
  const query: DeadLetterQuery = { status: filter.status ?? 'dead', limit, offset };
  if (filter.group !== undefined) query.group = filter.group;
  if (filter.topic !== undefined) query.topic = filter.topic;
  if (filter.key !== undefined) query.key = filter.key;
  if (filter.messageId !== undefined) query.messageId = filter.messageId;
  if (filter.error !== undefined) query.reasonContains = filter.error;
  if (filter.from !== undefined) query.from = filter.from;
  if (filter.to !== undefined) query.to = filter.to;
  return query;
}

/** The filter in words, for the scope of a bulk retry in its job and in the audit log. */
export function describeFilter(filter: DeadLetterFilterDto): string {
  const parts = Object.entries(filter)
    .filter(([name, value]) => value !== undefined && name !== 'status')
    .map(
      ([name, value]) =>
        `${name}=${name === 'from' || name === 'to' ? new Date(value as number).toISOString() : String(value)}`,
    );
  return parts.length === 0 ? '(everything)' : parts.join(', ');
}

/**
 * The value a letter is sorted by in a column of the list. Brokers list dead letters newest first only, so any other
 * order is applied by the console, over every match.
 */
export function deadLetterSortValue(
  letter: DeadLetter,
  column: DeadLetterSortColumn,
  now: number,
): string | number | null {
  switch (column) {
    case 'id':
      return letter.id;
    case 'group':
      return letter.group;
    case 'topic':
      return letter.topic;
    case 'key':
      return letter.key;
    case 'error':
      return letter.reason;
    case 'attempts':
      return letter.reconsumeTimes;
    case 'deadAt':
      return letter.deadAt;
    case 'age':
      return now - letter.bornAt;
    case 'status':
      return letter.status;
  }
}
