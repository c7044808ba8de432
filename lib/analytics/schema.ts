import * as z from '../zod.ts';

export const MAX_EVENTS_PER_REQUEST = 100;
const MAX_DATA_BYTES = 4 * 1024;

const userId = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9_.@+-]{1,128}$/,
      "must be 1-128 of A-Z a-z 0-9 _ . @ + - (no ':', '*' or spaces)",
    ),
  );

export const trackedEventSchema = z.strictObject({
  userId,
  action: z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -')),
  data: z.optional(
    z
      .record(z.string(), z.unknown())
      .check(
        z.refine(
          (data) => Buffer.byteLength(JSON.stringify(data)) <= MAX_DATA_BYTES,
          `must be at most ${MAX_DATA_BYTES} bytes of JSON`,
        ),
      ),
  ),
});

/** POST /analytics/events: one event, or `{events: [...]}` of at most 100. */
export const trackRequestSchema = z.union([
  trackedEventSchema,
  z.strictObject({
    events: z.array(trackedEventSchema).check(z.minLength(1), z.maxLength(MAX_EVENTS_PER_REQUEST)),
  }),
]);

export type TrackedEvent = z.infer<typeof trackedEventSchema>;
export type TrackRequest = z.infer<typeof trackRequestSchema>;

/** A value on `user.events` or `system.events`. */
export interface AnalyticsEvent {
  eventId: string;
  type: string;
  userId?: string;
  action?: string;
  data?: Record<string, unknown>;
  timestamp: string;
  [field: string]: unknown;
}

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True for a real calendar date written YYYY-MM-DD (2026-02-30 is not one). */
export const isCalendarDate = (value: string): boolean => {
  const match = CALENDAR_DATE.exec(value);
  if (!match) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
};
