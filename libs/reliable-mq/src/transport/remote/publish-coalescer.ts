import {
  ClientOp,
  FrameBatch,
  type BatchScheduler,
  type PublishBatchResult,
  type PublishResult,
  type WireError,
  type WireMessage,
} from '@reliable-mq/protocol';
import { TransportError } from '../../errors/transport.error';
import { fromWireError } from './remote-error';

interface PendingCall {
  messages: WireMessage[];
  resolve: (result: PublishResult) => void;
  reject: (error: Error) => void;
}

/** Calls gathered into one `publish.batch` at most; a tick's worth is usually the number of concurrent publishers. */
const MAX_CALLS_PER_FRAME = 1024;

/**
 * Publish calls made in the same tick on one connection, sent as one `publish.batch` frame to a broker that has it.
 * Each call keeps what it would have alone: the broker stores it whole or not at all, in the order the calls were
 * made, and its promise settles with its own confirms or its own error; a lost connection or a timeout fails every
 * call of the frame, as it would have failed each of them. A tick with one call sends a plain `publish`.
 */
export class PublishCoalescer {
  private readonly batch: FrameBatch<PendingCall>;

  constructor(
    scheduler: BatchScheduler,
    private readonly call: (op: string, args: unknown) => Promise<unknown>,
    /** Bytes a frame may take, as `wireOverhead` counts them; a call alone always fits (the caller split it). */
    maxFrameBytes: number,
  ) {
    this.batch = new FrameBatch(scheduler, {
      send: (calls) => this.send(calls),
      maxItems: MAX_CALLS_PER_FRAME,
      maxBytes: maxFrameBytes,
    });
  }

  /** Publishes one call's messages; `bytes` is their size on the wire, counted from above. */
  publish(messages: WireMessage[], bytes: number): Promise<PublishResult> {
    return new Promise((resolve, reject) => this.batch.add({ messages, resolve, reject }, bytes));
  }

  private send(calls: PendingCall[]): void {
    if (calls.length === 1) {
      const only = calls[0]!;
      this.call(ClientOp.PUBLISH, { messages: only.messages }).then(
        (result) => only.resolve(result as PublishResult),
        only.reject,
      );
      return;
    }
    this.call(ClientOp.PUBLISH_BATCH, { calls: calls.map(({ messages }) => ({ messages })) }).then(
      (answer) => {
        const results = (answer as Partial<PublishBatchResult> | null)?.results;
        if (!Array.isArray(results) || results.length !== calls.length) {
          const error = new TransportError(
            'The broker answered a batch of publishes with results that do not match it; re-send them.',
          );
          for (const call of calls) call.reject(error);
          return;
        }
        calls.forEach((call, index) => {
          const result = results[index] as PublishResult | { error?: WireError } | undefined;
          const failure = result && 'error' in result ? result.error : undefined;
          if (failure) call.reject(fromWireError(failure, ClientOp.PUBLISH));
          else call.resolve(result as PublishResult);
        });
      },
      (error: Error) => {
        for (const call of calls) call.reject(error);
      },
    );
  }
}
