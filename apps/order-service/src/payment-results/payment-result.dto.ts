import { IsNotEmpty, IsString, IsUUID, MaxLength } from 'class-validator';
import { IsMoneyAmount } from '../../../shared/src/input-rules.decorators';

/** `payment.succeeded` as the order service reads it. */
export class PaymentSucceededDto {
  @IsUUID()
  orderId!: string;

  @IsString()
  @IsNotEmpty()
  paymentId!: string;

  @IsMoneyAmount()
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
