import { IsObject, IsOptional } from 'class-validator';

/** Body of `POST /ops/dead-letters/:id/resend`: without `payload`, the message is resent as it was. */
export class ResendDeadLetterDto {
  /** The whole new payload, e.g. the original with the card fixed. Its `orderId` must stay the same. */
  @IsOptional()
  @IsObject()
  payload?: Record<string, unknown>;
}
