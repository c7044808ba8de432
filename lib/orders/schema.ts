import * as z from '../zod.ts';

/** Money in major units with at most two decimals (12.5, 8, 0.99); z.number() refuses NaN and Infinity. */
const price = z.number().check(
  z.gte(0),
  z.lte(1_000_000),
  z.refine(
    (value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6,
    'must have at most 2 decimals',
  ),
);

export const orderItemSchema = z.strictObject({
  sku: z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -')),
  quantity: z.number().check(z.int(), z.gte(1), z.lte(1_000)),
  price,
});

export const orderRequestSchema = z.strictObject({
  userId: z
    .string()
    .check(
      z.regex(
        /^[A-Za-z0-9_.@+-]{1,128}$/,
        "must be 1-128 of A-Z a-z 0-9 _ . @ + - (no ':', '*' or spaces)",
      ),
    ),
  items: z.array(orderItemSchema).check(z.minLength(1), z.maxLength(100)),
  currency: z.string().check(z.regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 code such as EUR')),
});

export type OrderRequest = z.infer<typeof orderRequestSchema>;
export type OrderItem = z.infer<typeof orderItemSchema>;

/** The `orders` topic's value. */
export interface OrderEvent extends OrderRequest {
  eventId: string;
  orderId: string;
  total: number;
  timestamp: string;
}

export const orderEventSchema = z.extend(orderRequestSchema, {
  eventId: z.string().check(z.minLength(1), z.maxLength(128)),
  orderId: z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,128}$/)),
  total: z.number().check(z.gte(0)),
  timestamp: z.string().check(z.minLength(1)),
});

export type OrderStatus = 'pending' | 'processing' | 'completed' | 'failed';

/** Sum of quantity x price, in cents so 0.1 + 0.2 never becomes 0.30000000000000004. */
export const totalInCents = (items: OrderItem[]): number =>
  items.reduce((sum, { quantity, price }) => sum + quantity * Math.round(price * 100), 0);
