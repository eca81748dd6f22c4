/**
 * A value read from somewhere that costs something (a database, a broker), read at most once per `maxAgeMs`:
 * callers in between share the last reading, and callers during a read share that read. A failed read is not kept,
 * so the next caller tries again.
 */
export class CachedReading<T> {
  private last: { value: T; at: number } | undefined;
  private reading: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** `fresh`: read now (or join the read under way), whatever the age of the last reading. */
  get(fresh = false): Promise<T> {
    if (!fresh && this.last && this.clock() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.value);
    this.reading ??= (async () => {
      try {
        const value = await this.read();
        this.last = { value, at: this.clock() };
        return value;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}
