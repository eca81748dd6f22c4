import { IsPositive, IsString, Matches, Max } from 'class-validator';
import { IsMoneyAmount, IsPrintableText } from '../../../shared/src/input-rules.decorators';

/** Body of `POST /orders`. Unknown fields are refused (ValidationPipe `forbidNonWhitelisted`). */
export class CreateOrderDto {
  @IsPrintableText(64)
  customerId!: string;

  /** In currency units. Above 10,000 the payment service refuses it by business rule; the order is still accepted. */
  @IsMoneyAmount()
  @IsPositive()
  @Max(1_000_000)
  amount!: number;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be a card number of 12 to 19 digits, e.g. 4242424242424242' })
  card!: string;
}
