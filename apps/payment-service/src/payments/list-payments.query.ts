import { IsUUID } from 'class-validator';

/** Query of `GET /payments`. */
export class ListPaymentsQuery {
  @IsUUID()
  orderId!: string;
}
