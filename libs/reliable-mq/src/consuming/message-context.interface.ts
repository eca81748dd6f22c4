import type { EntityManager } from 'typeorm';

/** Everything about a delivery besides its payload. */
export interface MessageContext {
  /** The producer's message id (UUIDv7), stable across retries and resends. */
  id: string;
  topic: string;
  group: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  /** Failed attempts before this one: 0 on the first delivery. */
  attempt: number;
  /** The dedup key this delivery was checked against. */
  dedupKey: string;
  /**
   * With the `db` dedup store: the transaction that also holds the inbox row. Write your
   * effects through it so they commit (or roll back) together with the dedup record.
   */
  manager?: EntityManager;
}
