/**
 * Where a store reports problems it deliberately does not throw (for example, DONE could not be recorded after the
 * handler succeeded). Nest's `Logger` fits.
 */
export interface DedupLogger {
  warn(message: string): void;
}
