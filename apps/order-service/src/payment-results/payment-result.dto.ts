import { IsNotEmpty, IsNumber, IsString, IsUUID, MaxLength } from 'class-validator';

/** `payment.succeeded` as the order service reads it. */
export class PaymentSucceededDto {
  @IsUUID()
  orderId!: string;

  @IsString()
  @IsNotEmpty()
  paymentId!: string;

  @IsNumber()
  amount!: number;
}

/** `payment.failed` as the order service reads it. */
export class PaymentFailedDto {
  @IsUUID()
  orderId!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(400)
  reason!: string;
}
