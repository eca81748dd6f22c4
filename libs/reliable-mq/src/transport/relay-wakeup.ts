/**
 * The late link from a transport to the outbox relay. The transport is created first (the relay needs it), so its
 * factory gets `wakeRelay` before there is a relay to wake; the module attaches the relay once both exist.
 */
export class RelayWakeup {
  private wakeRelay: (() => void) | undefined;

  attach(wake: () => void): void {
    this.wakeRelay = wake;
  }

  wake(): void {
    this.wakeRelay?.();
  }
}
