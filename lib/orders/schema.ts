import * as z from 'zod';

/** Money in major units with at most two decimals (12.5, 8, 0.99). */
const price = z
  .number()
  .finite()
  .min(0)
  .max(1_000_000)
  .refine(
    (value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6,
    'must have at most 2 decimals',
  );

export const orderItemSchema = z.strictObject({
  sku: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -'),
  quantity: z.number().int().min(1).max(1_000),
  price,
});

export const orderRequestSchema = z.strictObject({
  userId: z
    .string()
    .regex(
      /^[A-Za-z0-9_.@+-]{1,128}$/,
      "must be 1-128 of A-Z a-z 0-9 _ . @ + - (no ':', '*' or spaces)",
    ),
  items: z.array(orderItemSchema).min(1).max(100),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter ISO 4217 code such as EUR'),
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

export const orderEventSchema = orderRequestSchema.extend({
  eventId: z.string().min(1).max(128),
  orderId: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
  total: z.number().finite().min(0),
  timestamp: z.string().min(1),
});

export type OrderStatus = 'pending' | 'processing' | 'completed' | 'failed';

/** Sum of quantity x price, in cents so 0.1 + 0.2 never becomes 0.30000000000000004. */
export const totalInCents = (items: OrderItem[]): number =>
  items.reduce((sum, { quantity, price }) => sum + quantity * Math.round(price * 100), 0);
