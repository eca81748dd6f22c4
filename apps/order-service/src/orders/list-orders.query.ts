import { IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { IsPageLimit } from '../../../shared/src/page-limit.decorator';

/** Query of `GET /orders`: newest first. */
export class ListOrdersQuery {
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  customerId?: string;

  @IsPageLimit()
  limit?: number;
}
