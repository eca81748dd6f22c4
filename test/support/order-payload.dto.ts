import { IsIn, IsString, Matches } from 'class-validator';

/**
 * The payload of an order as the payload-validation specs declare it on a consumer: an edited dead letter or a checked
 * payload is valid only with an `o-<digits>` order id, a card of 12 to 19 digits and a known currency.
 */
export class OrderPayloadDto {
  @IsString()
  @Matches(/^o-\d+$/)
  orderId!: string;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be 12 to 19 digits' })
  card!: string;

  @IsIn(['EUR', 'USD'])
  currency!: string;
}
