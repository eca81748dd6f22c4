import { Body, Controller, Get, HttpCode, NotFoundException, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { CreateOrderDto } from './create-order.dto';
import { ListOrdersQuery } from './list-orders.query';
import type { OrderStatus } from './order-status';
import type { OrderView } from './order.view';
import { OrdersService } from './orders.service';

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** 201 `{ id, status: "PENDING" }`; the payment outcome arrives asynchronously. */
  @Post()
  place(@Body() body: CreateOrderDto): Promise<{ id: string; status: OrderStatus }> {
    return this.orders.place(body);
  }

  /** Newest first; `customerId` narrows the list, `limit` (1–500, default 50) bounds it. */
  @Get()
  async list(@Query() query: ListOrdersQuery): Promise<{ items: OrderView[] }> {
    return { items: await this.orders.list(query.customerId, query.limit ?? 50) };
  }

  /** The order, its status and its last status changes. */
  @Get(':id')
  async find(@Param('id', new ParseUUIDPipe()) id: string): Promise<OrderView> {
    const order = await this.orders.find(id);
    if (!order) throw new NotFoundException(`There is no order ${id}.`);
    return order;
  }

  /** Publishes `order.created` again for a settled order, to watch the payment service suppress the duplicate. */
  @Post(':id/republish')
  @HttpCode(202)
  republish(@Param('id', new ParseUUIDPipe()) id: string): Promise<{ orderId: string; messageId: string }> {
    return this.orders.republish(id);
  }
}
