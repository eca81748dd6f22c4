import type { OrderHistoryEntity } from './order-history.entity';
import type { OrderStatus } from './order-status';
import type { OrderEntity } from './order.entity';

export interface OrderHistoryView {
  status: OrderStatus;
  note: string;
  at: string;
}

/** An order as the API shows it: amount in currency units, the card masked. */
export interface OrderView {
  id: string;
  customerId: string;
  amount: number;
  card: string;
  status: OrderStatus;
  createdAt: string;
  updatedAt: string;
  history?: OrderHistoryView[];
}

export function toCents(amount: number): number {
  return Math.round(amount * 100);
}

export function fromCents(cents: number): number {
  return cents / 100;
}

export function maskCard(card: string): string {
  return `**** ${card.slice(-4)}`;
}

export function toOrderView(order: OrderEntity, history?: OrderHistoryEntity[]): OrderView {
  const view: OrderView = {
    id: order.id,
    customerId: order.customerId,
    amount: fromCents(order.amountCents),
    card: maskCard(order.card),
    status: order.status,
    createdAt: new Date(order.createdAt).toISOString(),
    updatedAt: new Date(order.updatedAt).toISOString(),
  };
  if (history) {
    view.history = history.map((entry) => ({
      status: entry.status,
      note: entry.note,
      at: new Date(entry.at).toISOString(),
    }));
  }
  return view;
}
