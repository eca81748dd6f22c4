/** The card was refused by its issuer; charging it again will not help. */
export class CardDeclinedError extends Error {
  constructor(
    readonly cardLast4: string,
    readonly code: string,
  ) {
    super(`card ending ${cardLast4} was declined by the issuer (${code})`);
    this.name = 'CardDeclinedError';
  }
}
