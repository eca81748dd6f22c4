import { IsOptional, IsUUID } from 'class-validator';
import { IsPageLimit } from '../../../shared/src/page-limit.decorator';

export class ListDeadLettersQuery {
  @IsOptional()
  @IsUUID()
  orderId?: string;

  @IsPageLimit()
  limit?: number;
}
