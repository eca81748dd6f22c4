import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional } from 'class-validator';
import { ConsoleApi } from '../http/console-api.decorators';
import { emptyToUndefined } from '../http/query-values';
import { ConsumerCatalog, type ConsumerView } from '../sources/consumer-catalog.service';
import { MetricsSampler, type Series, type SeriesKind } from './metrics-sampler.service';
import { OverviewService, type OverviewView } from './overview.service';

export const CHART_RANGES = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
} as const;
export type ChartRange = keyof typeof CHART_RANGES;
export const SERIES_KINDS: SeriesKind[] = ['lag', 'consume', 'publish', 'dlq', 'outbox-stuck', 'outbox-dead', 'halves'];

export class SeriesQuery {
  @ApiPropertyOptional({ enum: Object.keys(CHART_RANGES), default: '1h' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(Object.keys(CHART_RANGES))
  range?: ChartRange;
}

@ApiTags('overview')
@ConsoleApi()
@Controller('api')
export class OverviewController {
  constructor(
    private readonly overview: OverviewService,
    private readonly sampler: MetricsSampler,
    private readonly catalog: ConsumerCatalog,
  ) {}

  @Get('overview')
  @ApiOperation({
    summary: 'Per topic and group: backlog, rates, DLQ counts, stuck and dead outbox rows, half messages.',
  })
  get(): Promise<OverviewView> {
    return this.overview.overview();
  }

  @Get('overview/series')
  @ApiOperation({ summary: 'Sampled backlog, rates and counts over time, for charts.' })
  series(@Query() query: SeriesQuery): { range: ChartRange; series: Series[] } {
    const range = query.range ?? '1h';
    return { range, series: this.sampler.recent(SERIES_KINDS, CHART_RANGES[range]) };
  }

  @Get('consumers')
  @ApiOperation({ summary: "Known handlers: what an edit is validated against, and each group's dedup window." })
  consumers(): { items: ConsumerView[] } {
    return { items: this.catalog.list() };
  }
}
