import { IsPositive, IsString, IsUUID, Matches } from 'class-validator';
import { IsMoneyAmount, IsPrintableText } from '../../../shared/src/input-rules.decorators';

/**
 * `order.created` as the payment service reads it. A payload that fails these checks can never succeed on retry,
 * so ReliableMQ sends it straight to the DLQ with the reason.
 */
export class OrderCreatedDto {
  @IsUUID()
  orderId!: string;

  @IsPrintableText(64)
  customerId!: string;

  @IsMoneyAmount()
  @IsPositive()
  amount!: number;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be a card number of 12 to 19 digits' })
  card!: string;
}
