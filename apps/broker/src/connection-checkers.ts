import {
  toWireHalfMessage,
  transactionOutcomeOf,
  type HalfMessage,
  type TransactionOutcome,
  type WorkerEngine,
} from '@reliable-mq/engine';
import { ProtocolError, ProtocolErrorCode, ServerOp, type CheckArgs } from '@reliable-mq/protocol';

/** What checkbacks need from their connection: a way to ask the client and wait for its answer. */
export interface CheckChannel {
  readonly isOpen: boolean;
  request(op: string, args: unknown, timeoutMs: number): Promise<unknown>;
}

/**
 * Transaction checkers registered by one connection. Each is an engine checker for a producer group whose answer
 * comes from the client: a `tx.check` request goes out and its response carries the outcome. No answer within the
 * timeout, a closed connection, or anything but `commit` / `rollback` counts as `unknown`, and the engine asks again
 * at its next check.
 */
export class ConnectionCheckers {
  /** By checker id: its registration with the engine, settling with the function that withdraws it (null: refused). */
  private readonly registered = new Map<number, Promise<(() => Promise<void>) | null>>();

  constructor(
    private readonly engine: WorkerEngine,
    private readonly channel: CheckChannel,
    private readonly timeoutMs: number,
  ) {}

  get count(): number {
    return this.registered.size;
  }

  /** Resolves once the engine asks this checker; an id is taken at once, so a second register of it is refused. */
  async register(id: number, producerGroup: string): Promise<void> {
    if (this.registered.has(id)) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_REQUEST,
        `Checker id ${id} is already in use on this connection.`,
        true,
      );
    }
    const registering = this.engine.registerTransactionChecker(producerGroup, (half) => this.ask(id, half));
    const entry = registering.catch(() => null);
    this.registered.set(id, entry);
    try {
      await registering;
    } catch (error) {
      if (this.registered.get(id) === entry) this.registered.delete(id);
      throw error;
    }
  }

  /** Resolves once the engine no longer asks it (at once when the engine is closed). */
  async unregister(id: number): Promise<boolean> {
    const registration = this.registered.get(id);
    if (!registration) return false;
    this.registered.delete(id);
    const unregister = await registration;
    // A closed engine asks no checker; a call refused as it closes leaves nothing to undo.
    await unregister?.().catch(() => undefined);
    return true;
  }

  unregisterAll(): void {
    for (const id of [...this.registered.keys()]) void this.unregister(id);
  }

  private async ask(checker: number, half: HalfMessage): Promise<TransactionOutcome> {
    // Withdrawn while the engine's question was on its way: as if never asked.
    if (!this.registered.has(checker) || !this.channel.isOpen) return 'unknown';
    const args: CheckArgs = { checker, half: toWireHalfMessage(half) };
    const answer = await this.channel.request(ServerOp.TX_CHECK, args, this.timeoutMs);
    return transactionOutcomeOf(
      typeof answer === 'object' && answer !== null ? (answer as { outcome?: unknown }).outcome : undefined,
    );
  }
}
