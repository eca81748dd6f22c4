import { FrameType } from './protocol-constants';
import type { ErrorFrame, ResponseFrame, WireError } from './protocol-frames';

/**
 * How each side words the failures of its own calls. The broker and the client raise different error classes (a
 * plain Error on the server, the framework's transport errors on the client), so the channel asks rather than picks.
 */
export interface PendingRequestErrors {
  /** The peer did not answer `op` within `timeoutMs`; it may or may not have done it. */
  timedOut(op: string, timeoutMs: number): Error;
  /** The peer answered `op` with an error frame. */
  refused(error: WireError, op: string): Error;
  /** The call could not be written: the connection no longer takes output. */
  unsent(op: string): Error;
}

interface Waiting {
  op: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Calls this side made and whose answers have not come: ids are allocated here, and each RESPONSE or ERROR frame is
 * matched to its call by id. Pipelined calls are answered in any order; an answer after its call timed out is
 * dropped. Nothing here writes: the channel sends the frame, this only waits for its answer.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /**
   * @param unrefTimers whether a call's timeout may let the process exit (the broker's own calls to its clients must
   *   not keep it alive; a client's call is what its caller awaits).
   */
  constructor(
    private readonly errors: PendingRequestErrors,
    private readonly unrefTimers: boolean,
  ) {}

  /** Calls waiting for their answer. */
  get size(): number {
    return this.waiting.size;
  }

  /** The id of the next call; 0 is never used, it marks a call nobody waits for. */
  allocateId(): number {
    return this.nextId++;
  }

  /** Waits for the answer to call `id`, rejecting after `timeoutMs`. */
  wait(id: number, op: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(this.errors.timedOut(op, timeoutMs));
      }, timeoutMs);
      if (this.unrefTimers) timer.unref();
      this.waiting.set(id, { op, resolve, reject, timer });
    });
  }

  /**
   * Settles the call that `frame` answers. Returns that call's op, or undefined when no call waits for it (it timed
   * out, or the peer made the id up).
   */
  settle(frame: ResponseFrame | ErrorFrame): string | undefined {
    const waiting = this.waiting.get(frame.id);
    if (!waiting) return undefined;
    this.waiting.delete(frame.id);
    clearTimeout(waiting.timer);
    if (frame.t === FrameType.RESPONSE) waiting.resolve(frame.r);
    else waiting.reject(this.errors.refused(frame.e, waiting.op));
    return waiting.op;
  }

  /** Fails call `id`, which could not be sent. */
  unsent(id: number): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    waiting.reject(this.errors.unsent(waiting.op));
  }

  /** Fails every waiting call: the connection is gone. */
  rejectAll(errorFor: (op: string) => Error): void {
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      this.waiting.delete(id);
      waiting.reject(errorFor(waiting.op));
    }
  }
}
