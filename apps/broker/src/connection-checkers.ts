import {
  toWireHalfMessage,
  transactionOutcomeOf,
  type BrokerEngine,
  type HalfMessage,
  type TransactionOutcome,
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
  private readonly registered = new Map<number, () => void>();

  constructor(
    private readonly engine: BrokerEngine,
    private readonly channel: CheckChannel,
    private readonly timeoutMs: number,
  ) {}

  get count(): number {
    return this.registered.size;
  }

  register(id: number, producerGroup: string): void {
    if (this.registered.has(id)) {
      throw new ProtocolError(
        ProtocolErrorCode.BAD_REQUEST,
        `Checker id ${id} is already in use on this connection.`,
        true,
      );
    }
    const unregister = this.engine.registerTransactionChecker(producerGroup, (half) => this.ask(id, half));
    this.registered.set(id, unregister);
  }

  unregister(id: number): boolean {
    const unregister = this.registered.get(id);
    if (!unregister) return false;
    this.registered.delete(id);
    if (this.engine.isOpen) unregister();
    return true;
  }

  unregisterAll(): void {
    for (const id of [...this.registered.keys()]) this.unregister(id);
  }

  private async ask(checker: number, half: HalfMessage): Promise<TransactionOutcome> {
    if (!this.channel.isOpen) return 'unknown';
    const args: CheckArgs = { checker, half: toWireHalfMessage(half) };
    const answer = await this.channel.request(ServerOp.TX_CHECK, args, this.timeoutMs);
    return transactionOutcomeOf(
      typeof answer === 'object' && answer !== null ? (answer as { outcome?: unknown }).outcome : undefined,
    );
  }
}
