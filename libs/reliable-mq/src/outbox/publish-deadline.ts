import { TransportUnavailableError } from '../errors/transport-unavailable.error';

/**
 * Settles as `publish` does, or rejects with a TransportUnavailableError when it has not settled by `deadline`
 * (epoch ms, on `clock`).
 *
 * Why: the relay sends one batch at a time, so a transport call that never settles (a confirm or a channel close
 * lost with a connection that died mid-call) would hold the relay, and every row behind it, for as long as the
 * process lives; the rows' lease would lapse with nobody left to take them over. The relay sets the deadline one
 * lease (at least 5 s) after the rows' lease: a confirm that comes late is still recorded (or fenced, when another relay took the
 * rows over meanwhile), and past it the rows are given back without an attempt and sent again; a copy that did reach
 * the broker is absorbed by the broker's and the consumers' dedup. The abandoned call is left to settle on its own;
 * its outcome is ignored.
 */
export function answeredBy<T>(publish: Promise<T>, deadline: number, clock: () => number, rows: number): Promise<T> {
  const waitMs = Math.max(0, deadline - clock());
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new TransportUnavailableError(
          `The transport did not answer a publish of ${rows} outbox row(s) within ${waitMs} ms (the rest of ` +
            "the rows' lease, then one lease more, at least 5 s); they go back to the outbox without an attempt and are sent again.",
        ),
      );
    }, waitMs);
  });
  // A late rejection of the abandoned call must not surface as an unhandled rejection.
  publish.catch(() => undefined);
  return Promise.race([publish, expired]).finally(() => clearTimeout(timer));
}
