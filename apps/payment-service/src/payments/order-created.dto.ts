import { IsNotEmpty, IsNumber, IsPositive, IsString, IsUUID, Matches, MaxLength } from 'class-validator';

/**
 * `order.created` as the payment service reads it. A payload that fails these checks can never succeed on retry,
 * so ReliableMQ sends it straight to the DLQ with the reason.
 */
export class OrderCreatedDto {
  @IsUUID()
  orderId!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  customerId!: string;

  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 2 })
  @IsPositive()
  amount!: number;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be a card number of 12 to 19 digits' })
  card!: string;
}
