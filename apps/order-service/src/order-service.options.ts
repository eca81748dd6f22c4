import type { ServiceHostOptions } from '../../shared/src/service-app';
import type { ServiceBaseOptions } from '../../shared/src/service-options';

/** The order service's database (default schema `order_service`, SQLite file e.g. `data/orders.sqlite`), broker and relay. */
export type OrderServiceOptions = ServiceBaseOptions;

export interface OrderServiceAppOptions extends OrderServiceOptions, ServiceHostOptions {}
