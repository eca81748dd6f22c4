import { IsOptional } from 'class-validator';
import { IsPrintableText } from '../../../shared/src/input-rules.decorators';
import { IsPageLimit } from '../../../shared/src/page-limit.decorator';

/** Query of `GET /orders`: newest first. */
export class ListOrdersQuery {
  @IsOptional()
  @IsPrintableText(64)
  customerId?: string;

  @IsPageLimit()
  limit?: number;
}
