import { IsNotEmpty, IsNumber, IsPositive, IsString, Matches, Max, MaxLength } from 'class-validator';

/** Body of `POST /orders`. Unknown fields are refused (ValidationPipe `forbidNonWhitelisted`). */
export class CreateOrderDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  customerId!: string;

  /** In currency units. Above 10,000 the payment service refuses it by business rule; the order is still accepted. */
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 2 })
  @IsPositive()
  @Max(1_000_000)
  amount!: number;

  @IsString()
  @Matches(/^[0-9]{12,19}$/, { message: 'card must be a card number of 12 to 19 digits, e.g. 4242424242424242' })
  card!: string;
}
