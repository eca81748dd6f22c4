import {
  BadRequestException,
  ConflictException,
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Param,
  ParseIntPipe,
  Post,
  Query,
  UseGuards,
} from '@nestjs/common';
import { RELIABLE_MQ_TRANSPORT, type Transport } from '@reliable-mq/nestjs';
import type { DeadLetter } from '@reliable-mq/engine';
import { PAYMENT_SERVICE_GROUP } from '../messages';
import { ListDeadLettersQuery } from './list-dead-letters.query';
import { OpsTokenGuard } from './ops-token.guard';
import { ResendDeadLetterDto } from './resend-dead-letter.dto';

export interface DeadLetterView {
  id: number;
  /** `dead` while it waits; `resent` or `discarded` afterwards. */
  status: string;
  topic: string;
  orderId: string | null;
  reason: string;
  /** Failed deliveries before it was dead-lettered. */
  reconsumeTimes: number;
  deadAt: string;
  payload: unknown;
}

/**
 * The payment group's dead letters, for an operator: list them, and resend one, as it was or with an edited
 * payload. A small stand-in for the console, without its audit trail or users: reading is open (the sample listens
 * on 127.0.0.1 by default for that reason), resending takes the operations token.
 */
@Controller('ops/dead-letters')
export class DeadLettersController {
  private readonly logger = new Logger(DeadLettersController.name);

  constructor(@Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport) {}

  @Get()
  async list(@Query() query: ListDeadLettersQuery): Promise<{ total: number; items: DeadLetterView[] }> {
    const page = await this.transport.deadLetters.list({
      group: PAYMENT_SERVICE_GROUP,
      key: query.orderId,
      status: 'dead',
      limit: query.limit ?? 50,
    });
    return { total: page.total, items: page.items.map(toView) };
  }

  @Get(':id')
  async get(@Param('id', ParseIntPipe) id: number): Promise<DeadLetterView> {
    const letter = await this.transport.deadLetters.get(id);
    if (!letter || letter.group !== PAYMENT_SERVICE_GROUP)
      throw new NotFoundException(`There is no dead letter ${id} of group ${PAYMENT_SERVICE_GROUP}.`);
    return toView(letter);
  }

  /**
   * Sends the letter back to the payment group only, through its retry topic. JSON only (as every body of the
   * service) and the operations token: nothing a page on another site can send gets here.
   */
  @Post(':id/resend')
  @HttpCode(202)
  @UseGuards(OpsTokenGuard)
  async resend(
    @Param('id', ParseIntPipe) id: number,
    @Body() body: ResendDeadLetterDto,
  ): Promise<{ resent: number[] }> {
    const letter = await this.transport.deadLetters.get(id);
    if (!letter || letter.group !== PAYMENT_SERVICE_GROUP)
      throw new NotFoundException(`There is no dead letter ${id} of group ${PAYMENT_SERVICE_GROUP}.`);
    if (letter.status !== 'dead')
      throw new ConflictException(`Dead letter ${id} was already ${letter.status}; only dead ones can be resent.`);
    let edit: { body: string } | undefined;
    if (body.payload !== undefined) {
      const original = parse(letter.body) as { orderId?: unknown } | undefined;
      if (original?.orderId !== undefined && body.payload.orderId !== original.orderId) {
        throw new BadRequestException(
          `payload.orderId must stay ${JSON.stringify(original.orderId)}: a resend fixes a message, it does not make a new one.`,
        );
      }
      edit = { body: JSON.stringify(body.payload) };
    }
    const resent = await this.transport.deadLetters.resend([id], edit);
    this.logger.log(`Dead letter ${id} (order ${letter.key}) resent${edit ? ' with an edited payload' : ''}`);
    return { resent };
  }
}

function toView(letter: DeadLetter): DeadLetterView {
  return {
    id: letter.id,
    status: letter.status,
    topic: letter.topic,
    orderId: letter.key,
    reason: letter.reason,
    reconsumeTimes: letter.reconsumeTimes,
    deadAt: new Date(letter.deadAt).toISOString(),
    payload: parse(letter.body),
  };
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return body.toString('utf8');
  }
}
