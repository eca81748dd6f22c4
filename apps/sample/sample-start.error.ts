/** A part of the sample did not start; the message says which and, when it can, what to change. */
export class SampleStartError extends Error {
  constructor(
    message: string,
    readonly part: string,
    /** The setting to change when the part's port was taken. */
    readonly portVariable?: string,
  ) {
    super(message);
    this.name = 'SampleStartError';
  }
}
