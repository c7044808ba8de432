import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCalendarDate, trackRequestSchema } from '../../lib/analytics/schema.ts';
import { ValidationError } from '../../lib/errors.ts';
import { identifier } from '../../lib/keys.ts';
import {
  MAX_BODY_BYTES,
  MAX_JSON_DEPTH,
  parseJson,
  parseJsonBody,
} from '../../lib/lambda/json-body.ts';
import { orderRequestSchema } from '../../lib/orders/schema.ts';

/**
 * Property-based tests of the request parsers and validators (the Middy habit: every parser
 * gets a fuzz test). Whatever a client sends, they either return a valid value or throw a
 * ValidationError (PayloadTooLargeError and UnsupportedMediaTypeError are ValidationErrors):
 * never a TypeError, a RangeError or anything else that would become a 500.
 */

const RUNS = { numRuns: 500 };

/** Runs `parse` and fails the property on any throw outside the ValidationError family. */
const onlyValidationErrors = <T>(parse: () => T): { value: T } | { error: ValidationError } => {
  try {
    return { value: parse() };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    expect(error.message.length).toBeLessThanOrEqual(600);
    return { error };
  }
};

const eventWith = (
  body: string | undefined,
  contentType: string | undefined,
  isBase64Encoded = false,
): APIGatewayProxyEventV2 =>
  ({
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded,
  }) as APIGatewayProxyEventV2;

const contentTypes = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/problem+json',
    'APPLICATION/JSON',
    'text/plain',
    'application/jsonp',
    'multipart/form-data; boundary=x',
    '',
  ),
  fc.string(),
  fc.constant(undefined),
);

/** Strings a client could send, JSON or nearly JSON. */
const bodies = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.json(),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.jsonValue().map((value) => JSON.stringify(value).slice(0, -1)),
);

/** An order with each field either valid or arbitrary. */
const nearlyOrders = fc.record(
  {
    userId: fc.oneof(fc.constant('user-1'), fc.string(), fc.anything()),
    items: fc.oneof(
      fc.array(
        fc.record(
          {
            sku: fc.oneof(fc.constant('SKU-1'), fc.string(), fc.anything()),
            quantity: fc.oneof(fc.integer(), fc.double(), fc.anything()),
            price: fc.oneof(fc.double(), fc.constantFrom(12.5, -1, 1e308), fc.anything()),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 120 },
      ),
      fc.anything(),
    ),
    currency: fc.oneof(fc.constant('EUR'), fc.string(), fc.anything()),
    coupon: fc.anything(),
  },
  { requiredKeys: [] },
);

/** A tracked event or a batch, with each field either valid or arbitrary. */
const nearlyEvents = fc.oneof(
  fc.record(
    {
      userId: fc.oneof(fc.constant('user-1'), fc.string()),
      action: fc.oneof(fc.constant('view'), fc.string(), fc.anything()),
      data: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.anything()),
    },
    { requiredKeys: [] },
  ),
  fc.record({ events: fc.oneof(fc.array(fc.anything(), { maxLength: 110 }), fc.anything()) }),
);

/** JSON text with `__proto__` somewhere as a key, plainly or with escapes. */
const protoKeys = fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"__pro\\u0074o__"');
const withProtoKey = fc
  .tuple(fc.jsonValue(), protoKeys, fc.jsonValue(), fc.boolean())
  .map(([inner, key, outer, nested]) =>
    nested
      ? `{"userId":"u","action":"a","data":{"x":${JSON.stringify(outer)},${key}:${JSON.stringify(inner)}}}`
      : `{${key}:${JSON.stringify(inner)},"x":${JSON.stringify(outer)}}`,
  );

describe('parseJson (fuzz)', () => {
  it('answers a value or a ValidationError for any text', () => {
    fc.assert(
      fc.property(bodies, (text) => {
        onlyValidationErrors(() => parseJson(text));
      }),
      RUNS,
    );
  });

  it('refuses a __proto__ key however it is escaped, and no prototype changes', () => {
    fc.assert(
      fc.property(withProtoKey, (text) => {
        const outcome = onlyValidationErrors(() => parseJson(text));
        expect(outcome).toHaveProperty('error');
        expect(Object.prototype).not.toHaveProperty('polluted');
      }),
      RUNS,
    );
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels without overflowing the stack`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.constantFrom(['[', ']'], ['{"a":', '}']),
        (depth, [open, close]) => {
          const text = `${(open as string).repeat(depth)}1${(close as string).repeat(depth)}`;
          const outcome = onlyValidationErrors(() => parseJson(text));
          expect('error' in outcome).toBe(depth > MAX_JSON_DEPTH);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses numbers beyond the double range (1e999) instead of turning them into null', () => {
    fc.assert(
      fc.property(fc.integer({ min: 309, max: 100_000 }), fc.boolean(), (exponent, negative) => {
        const outcome = onlyValidationErrors(() =>
          parseJson(`{"price":${negative ? '-' : ''}1e${exponent}}`),
        );
        expect(outcome).toHaveProperty('error');
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseJsonBody (fuzz)', () => {
  it('refuses a request without a Content-Type with 415 (serverless offline cannot send one)', () => {
    const order = {
      userId: 'user-1',
      items: [{ sku: 'A', quantity: 1, price: 1 }],
      currency: 'EUR',
    };

    const outcome = onlyValidationErrors(() =>
      parseJsonBody(eventWith(JSON.stringify(order), undefined), orderRequestSchema),
    );

    expect(outcome).toMatchObject({
      error: {
        name: 'UnsupportedMediaTypeError',
        message: 'Content-Type must be application/json (got none)',
      },
    });
  });

  it.each([
    ['orders', orderRequestSchema],
    ['analytics events', trackRequestSchema],
  ] as const)('answers a valid %s body or a ValidationError for any event', (_name, schema) => {
    fc.assert(
      fc.property(bodies, contentTypes, fc.boolean(), (body, contentType, base64) => {
        const encoded = base64 ? Buffer.from(body).toString('base64') : body;
        const outcome = onlyValidationErrors(() =>
          parseJsonBody(eventWith(encoded, contentType, base64), schema),
        );
        if ('value' in outcome) expect(schema.safeParse(outcome.value).success).toBe(true);
      }),
      RUNS,
    );
  });

  it('answers a valid order or a ValidationError for nearly valid orders', () => {
    fc.assert(
      fc.property(nearlyOrders, (order) => {
        const text = JSON.stringify(order) ?? 'null';
        const outcome = onlyValidationErrors(() =>
          parseJsonBody(eventWith(text, 'application/json'), orderRequestSchema),
        );
        if ('value' in outcome) {
          for (const { quantity, price } of outcome.value.items) {
            expect(Number.isInteger(quantity) && quantity >= 1).toBe(true);
            expect(Number.isFinite(price) && price >= 0).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('answers valid events or a ValidationError for nearly valid events and batches', () => {
    fc.assert(
      fc.property(nearlyEvents, (body) => {
        const text = JSON.stringify(body) ?? 'null';
        onlyValidationErrors(() =>
          parseJsonBody(eventWith(text, 'application/json'), trackRequestSchema),
        );
      }),
      RUNS,
    );
  });

  it(`refuses any body over ${MAX_BODY_BYTES} bytes with PayloadTooLargeError, counting bytes not characters`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom('x', 'é', '€', '🎉'),
        fc.integer({ min: 1, max: 64 }),
        (char, extra) => {
          const bytes = Buffer.byteLength(char);
          const text = char.repeat(Math.floor(MAX_BODY_BYTES / bytes) + extra);
          const outcome = onlyValidationErrors(() =>
            parseJsonBody(eventWith(text, 'application/json'), orderRequestSchema),
          );
          expect(outcome).toMatchObject({ error: { name: 'PayloadTooLargeError' } });
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('identifier (fuzz)', () => {
  it('returns the value unchanged or throws a ValidationError naming the field, for anything', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.anything()),
        (value) => {
          const outcome = onlyValidationErrors(() => identifier('orderId', value));
          if ('value' in outcome) expect(outcome.value).toBe(value);
          else expect(outcome.error.message).toMatch(/^orderId must be 1-128 characters .*; got /);
        },
      ),
      RUNS,
    );
  });

  it('never echoes a long value back', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 129, maxLength: 5_000 }), (value) => {
        const outcome = onlyValidationErrors(() => identifier('userId', value));
        expect('error' in outcome && outcome.error.message.length).toBeLessThan(200);
      }),
      { numRuns: 100 },
    );
  });
});

describe('isCalendarDate (fuzz)', () => {
  it('never throws, and accepts exactly the dates a calendar has', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(typeof isCalendarDate(text)).toBe('boolean');
      }),
      RUNS,
    );
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('0001-01-01T00:00:00Z'),
          max: new Date('9999-12-31T00:00:00Z'),
          noInvalidDate: true,
        }),
        (date) => {
          expect(isCalendarDate(date.toISOString().slice(0, 10))).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('refuses a day past the end of its month', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        (year, month) => {
          // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
          const end = new Date(0);
          end.setUTCFullYear(year, month, 0);
          const pad = (n: number, width: number) => String(n).padStart(width, '0');
          const day = (d: number) => `${pad(year, 4)}-${pad(month, 2)}-${pad(d, 2)}`;
          expect(isCalendarDate(day(end.getUTCDate()))).toBe(true);
          expect(isCalendarDate(day(end.getUTCDate() + 1))).toBe(false);
        },
      ),
      RUNS,
    );
  });
});
