import type { HalfMessage, HalfMessagePage, HalfMessageState, HalfResolvedBy } from '../engine.types';

/** A half message to store: everything a checker and an operator see, before any check or resolution. */
export interface NewHalfRecord {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  body: Buffer;
  sentAt: number;
  /** When the message becomes visible once committed (a delayed message), or null. */
  deliverAt: number | null;
  /** Time to live counted from the commit, for ledgers whose broker honours it; null for none. */
  ttlMs: number | null;
  nextCheckAt: number;
}

/** One state change asked of the ledger. */
export interface HalfTransition {
  txId: string;
  /** The change applies only while the record is in one of these states. */
  from: readonly HalfMessageState[];
  to: 'committed' | 'rolled_back' | 'discarded';
  /** Who decided; null for a move to the discarded list, which nobody decided. */
  by: HalfResolvedBy | null;
  reason: string | null;
}

/** What a transition left behind: the record afterwards (undefined when there is none), and whether this call changed it. */
export interface AppliedTransition {
  half: HalfMessage | undefined;
  changed: boolean;
}

/**
 * Called for a transition that changed nothing: `found` is the record as it is, or undefined when there is none.
 * Throwing undoes every transition of the call and rejects it with that error; returning keeps the others.
 */
export type RefusedTransition = (change: HalfTransition, found: HalfMessage | undefined) => void;

/** A due half message taken for one check, as it is after the claim counted that check. */
export interface ClaimedCheck {
  half: HalfMessage;
  /** True once the warning about a missing checker was given for this half message. */
  warned: boolean;
}

export interface ClaimedChecks {
  /** Due records seen, claimed or not: equal to the limit when more may be due. */
  due: number;
  claimed: ClaimedCheck[];
}

/** Filters of a listing, already checked. */
export interface HalfLedgerQuery {
  state: HalfMessageState | 'any';
  producerGroup?: string;
  topic?: string;
  /** Transaction id or message id. */
  id?: string;
  limit: number;
  offset: number;
}

/** A record deleted by retention. */
export interface PrunedHalf {
  txId: string;
  producerGroup: string;
  state: Exclude<HalfMessageState, 'unresolved'>;
}

/** Where the next chunk of a retention pass starts; only the ledger that answered it reads it. */
export type PruneCursor = { readonly ledgerCursor: unknown };

export interface PrunedChunk {
  deleted: PrunedHalf[];
  /** Null once nothing older than the cutoff is left to look at. */
  next: PruneCursor | null;
}

/**
 * Where half messages are kept: the engine's SQLite database, or the producer's own database for brokers without
 * half messages. The checkback scheduler, the producer's and operators' resolutions and retention work on this
 * interface only, so they are the same whatever the storage. The contract, checked by the ledger contract suite:
 *
 * - every state change is conditional on the state it starts from, so of two racing changes the second changes
 *   nothing; a change to `committed` makes the message deliverable in the same storage transaction, so a half
 *   message is delivered exactly when its commit is recorded, and at most once;
 * - `transition` is all or none: a refusal that throws leaves every record of the call as it was;
 * - a claim counts exactly one check of a record, whichever process or caller claims it;
 * - retention deletes resolved records only, never an unresolved one.
 */
export interface HalfMessageLedger {
  /** Stores an unresolved half message; when its message id is already held, answers that record unchanged. */
  insert(record: NewHalfRecord): Promise<{ half: HalfMessage; duplicate: boolean }>;
  get(txId: string): Promise<HalfMessage | undefined>;
  /** Half messages matching `query`, oldest sent first, with the number matching in all. */
  list(query: HalfLedgerQuery): Promise<HalfMessagePage>;
  /** Applies `changes` in one storage transaction; see `RefusedTransition` for those that change nothing. */
  transition(changes: readonly HalfTransition[], now: number, refused: RefusedTransition): Promise<AppliedTransition[]>;
  /**
   * Claims up to `limit` unresolved half messages whose check is due at `now`, earliest first: each claim counts
   * one check and moves the next to `nextCheckAt`. Records in `busy` (still being asked) move to `nextCheckAt`
   * without a counted check.
   */
  claimDue(now: number, nextCheckAt: number, limit: number, busy: ReadonlySet<string>): Promise<ClaimedChecks>;
  /** The earliest check due among unresolved half messages, or null when there is none. */
  nextCheckAt(): Promise<number | null>;
  /** Records that the missing-checker warning was given for `txId`; later claims report it as `warned`. */
  markWarned(txId: string): Promise<void>;
  /**
   * Deletes, in one storage transaction, at most `limit` records resolved (committed, rolled back, discarded)
   * before `cutoff`, starting at `cursor` (null: from the start), and answers them with where to go on.
   */
  pruneChunk(cutoff: number, limit: number, cursor: PruneCursor | null): Promise<PrunedChunk>;
}
