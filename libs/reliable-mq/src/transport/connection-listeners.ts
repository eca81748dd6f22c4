import type { ConnectionListener } from './transport.interface';

/**
 * The listeners of one transport's connection state. It reports changes only, so that a transport may report
 * the same state from several places (a GOAWAY and then the closed socket) without its listeners hearing it twice.
 */
export class ConnectionListeners {
  private readonly listeners = new Set<ConnectionListener>();
  private reported = false;
  private ended = false;

  add(listener: ConnectionListener): () => void {
    if (this.ended) return () => undefined;
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Tells the listeners when `connected` differs from what they last heard. */
  report(connected: boolean): void {
    if (this.ended || connected === this.reported) return;
    this.reported = connected;
    for (const listener of [...this.listeners]) {
      try {
        listener(connected);
      } catch {
        // A listener's failure must not keep the others from hearing the news, nor break the connection code.
      }
    }
  }

  /** The transport closed: nobody hears anything more. */
  end(): void {
    this.ended = true;
    this.listeners.clear();
  }
}
