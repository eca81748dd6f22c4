/**
 * Base of every error ReliableMQ raises on purpose. `code` is stable and safe to
 * branch on; `message` is a sentence meant for the person who has to fix it.
 */
export abstract class ReliableMqError extends Error {
  abstract readonly code: string;

  protected constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
