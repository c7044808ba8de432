import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inspector } from '../support/redis.ts';
import {
  carrying,
  keysContaining,
  messagesSince,
  type TopicOffsets,
  topicOffsets,
  valuesMatching,
} from './support/writes.ts';

/**
 * A corpus of malformed requests for every route of serverless.yml. Each one must get the 4xx
 * its problem deserves with a message naming that problem, never a 5xx, and must write
 * nothing: every id the corpus uses carries this file's marker, and at the end no Redis key,
 * no stored value, no fallback entry and no Kafka message carries it. A control request (a
 * valid order and event with a marker of their own) shows that the same checks do see writes.
 */

const apiUrl = inject('apiUrl');
const stack = inject('stack');
const redis = inspector(stack);
const TOPICS = ['orders', 'user.events', 'system.events'];

const marker = `bad${randomUUID().slice(0, 8)}`;
let serial = 0;
/** An id of this corpus, unique per case. */
const id = (label = 'id') => {
  serial += 1;
  return `${marker}-${label}${serial}`;
};

const order = (overrides: Record<string, unknown> = {}) => ({
  userId: id('user'),
  items: [{ sku: `${marker}-SKU`, quantity: 2, price: 12.5 }],
  currency: 'EUR',
  ...overrides,
});
const item = (overrides: Record<string, unknown>) => ({
  sku: `${marker}-SKU`,
  quantity: 1,
  price: 1,
  ...overrides,
});
const event = (overrides: Record<string, unknown> = {}) => ({
  userId: id('user'),
  action: `${marker}-view`,
  ...overrides,
});
const json = (value: unknown) => JSON.stringify(value);
/** Raw bytes (not text to be encoded by fetch). */
const bytes = (text: string) => new TextEncoder().encode(text);

interface Request {
  method: string;
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

interface Case {
  what: string;
  request: Request;
  status: number;
  message: RegExp;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const post = (
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = JSON_TYPE,
): Request => ({
  method: 'POST',
  path,
  body,
  headers,
});
const get = (path: string): Request => ({ method: 'GET', path });

/**
 * Cases every JSON route shares: the body is not a JSON object, or not JSON at all. (A request
 * without any Content-Type is refused with 415 by parseJsonBody, see the unit tests; it cannot
 * be sent through serverless offline, which adds `application/json` to such a request.)
 */
const malformedBodies = (path: string, valid: () => unknown): Case[] => [
  {
    what: 'invalid JSON',
    request: post(path, '{"userId":'),
    status: 400,
    message: /not valid JSON/,
  },
  {
    what: 'JSON followed by garbage',
    request: post(path, `${json(valid())} x`),
    status: 400,
    message: /not valid JSON/,
  },
  { what: 'an empty body', request: post(path, ''), status: 400, message: /Request body is empty/ },
  {
    what: 'JSON null',
    request: post(path, 'null'),
    status: 400,
    // serverless offline parses a JSON body and hands a falsy one (null, false, 0) to the
    // function as no body at all; API Gateway passes "null" through.
    message: /body: .*expected object, received null|Request body is empty/,
  },
  {
    what: 'a JSON array',
    request: post(path, '[]'),
    status: 400,
    message: /body: .*expected object, received array/,
  },
  {
    what: 'a JSON number',
    request: post(path, '42'),
    status: 400,
    message: /body: .*expected object, received number/,
  },
  {
    what: 'JSON true',
    request: post(path, 'true'),
    status: 400,
    message: /body: .*expected object, received boolean/,
  },
  { what: 'a bare NaN', request: post(path, '{"n": NaN}'), status: 400, message: /not valid JSON/ },
  {
    what: 'a "__proto__" key',
    request: post(path, `{"__proto__": {"polluted": true}, ${json(valid()).slice(1)}`),
    status: 400,
    message: /the key "__proto__"/,
  },
  {
    what: 'an escaped "\\u005f_proto__" key',
    request: post(path, `{"\\u005f_proto__": {"polluted": true}, ${json(valid()).slice(1)}`),
    status: 400,
    message: /the key "__proto__"/,
  },
  {
    what: 'objects nested 40 deep',
    request: post(path, `${'{"a":'.repeat(40)}1${'}'.repeat(40)}`),
    status: 400,
    message: /deeper than 32 levels/,
  },
  {
    what: 'a body over 64 KiB',
    request: post(path, json({ ...(valid() as object), padding: 'x'.repeat(70_000) })),
    status: 413,
    message: /larger than 65536 bytes/,
  },
  {
    what: 'a body of 1 MiB',
    request: post(path, json({ padding: 'x'.repeat(1024 * 1024) })),
    status: 413,
    message: /larger than 65536 bytes/,
  },
  {
    what: 'Content-Type text/plain',
    request: post(path, json(valid()), { 'content-type': 'text/plain' }),
    status: 415,
    message: /Content-Type must be application\/json \(got "text\/plain"\)/,
  },
  {
    what: 'a form body',
    request: post(path, 'userId=x&action=y', {
      'content-type': 'application/x-www-form-urlencoded',
    }),
    status: 415,
    message: /got "application\/x-www-form-urlencoded"/,
  },
  {
    what: 'multipart/form-data',
    request: post(path, '--b\r\n\r\n{}\r\n--b--', {
      'content-type': 'multipart/form-data; boundary=b',
    }),
    status: 415,
    message: /got "multipart\/form-data/,
  },
  {
    what: 'Content-Type application/jsonp',
    request: post(path, json(valid()), { 'content-type': 'application/jsonp' }),
    status: 415,
    message: /got "application\/jsonp"/,
  },
];

/** Ids that would address other Redis keys, match patterns, or are not ids at all. */
const badIds = (): Array<[string, string, RegExp]> => [
  ['a ":"', `${id()}:x`, /got ":" at position/],
  ['a "*"', `${id()}*`, /got "\*" at position/],
  ['a space', `${id()} x`, /got " " at position/],
  ['a tab', `${id()}\tx`, /got "\\t" at position/],
  ['a "/" (encoded)', `${id()}/x`, /got "\/" at position/],
  ['a NUL character', `${id()}\u0000`, /got "\\u0000" at position/],
  ['non-ASCII letters', `${id()}-été`, /got "é" at position/],
  ['an emoji', `${id()}-🎉`, /got "🎉" at position/],
  ['129 characters', `${id()}-`.padEnd(129, 'x'), /got 129 characters/],
  ['2,000 characters', `${id()}-`.padEnd(2_000, 'x'), /got 2000 characters/],
];

const idRoutes = [
  ['GET /orders/{orderId}', 'orderId', (v: string) => `/orders/${v}`],
  ['GET /users/{userId}', 'userId', (v: string) => `/users/${v}`],
  ['GET /users/{userId}/activity', 'userId', (v: string) => `/users/${v}/activity`],
] as const;

const cases: Array<Case & { route: string }> = [
  ...malformedBodies('/orders', order).map((c) => ({ route: 'POST /orders', ...c })),
  ...(
    [
      ['a missing userId', { items: order().items, currency: 'EUR' }, /userId: is required/],
      ['missing items', { userId: id('user'), currency: 'EUR' }, /items: is required/],
      ['a missing currency', { userId: id('user'), items: order().items }, /currency: is required/],
      [
        'a userId that is a number',
        order({ userId: 42 }),
        /userId: .*expected string, received number/,
      ],
      [
        'items that are an object',
        order({ items: item({}) }),
        /items: .*expected array, received object/,
      ],
      [
        'a quantity that is a string',
        order({ items: [item({ quantity: '2' })] }),
        /items\.0\.quantity: .*expected number, received string/,
      ],
      [
        'a price of "NaN"',
        order({ items: [item({ price: 'NaN' })] }),
        /items\.0\.price: .*expected number, received string/,
      ],
      [
        'a price of "Infinity"',
        order({ items: [item({ price: 'Infinity' })] }),
        /items\.0\.price: .*expected number, received string/,
      ],
      [
        'a negative quantity',
        order({ items: [item({ quantity: -1 })] }),
        /items\.0\.quantity: Too small/,
      ],
      [
        'a quantity of 0',
        order({ items: [item({ quantity: 0 })] }),
        /items\.0\.quantity: Too small/,
      ],
      [
        'a fractional quantity',
        order({ items: [item({ quantity: 1.5 })] }),
        /items\.0\.quantity: .*expected int/,
      ],
      [
        'a quantity over 1,000',
        order({ items: [item({ quantity: 1_001 })] }),
        /items\.0\.quantity: Too big/,
      ],
      [
        'a negative price',
        order({ items: [item({ price: -0.01 })] }),
        /items\.0\.price: Too small/,
      ],
      [
        'a price with 3 decimals',
        order({ items: [item({ price: 1.005 })] }),
        /items\.0\.price: must have at most 2 decimals/,
      ],
      ['no items', order({ items: [] }), /items: Too small/],
      [
        '101 items',
        order({ items: Array.from({ length: 101 }, () => item({})) }),
        /items: Too big/,
      ],
      [
        'a sku with a space',
        order({ items: [item({ sku: `${marker} SKU` })] }),
        /items\.0\.sku: must be 1-64/,
      ],
      ['a lower-case currency', order({ currency: 'eur' }), /currency: must be a 3-letter/],
      ['a userId with ":"', order({ userId: `${id()}:admin` }), /userId: must be 1-128 .*no ':'/],
      ['a userId with "*"', order({ userId: `${id()}*` }), /userId: must be 1-128/],
      ['a userId with a space', order({ userId: `${id()} x` }), /userId: must be 1-128/],
      ['a non-ASCII userId', order({ userId: `${id()}-żółw` }), /userId: must be 1-128/],
      [
        'a userId of 129 characters',
        order({ userId: `${id()}-`.padEnd(129, 'x') }),
        /userId: must be 1-128/,
      ],
      ['an unknown field', order({ coupon: 'FREE' }), /body: Unrecognized key: "coupon"/],
      [
        'an unknown item field',
        order({ items: [item({ discount: 5 })] }),
        /items\.0: Unrecognized key: "discount"/,
      ],
      [
        'a "constructor" key',
        order({ constructor: { prototype: { polluted: true } } }),
        /Unrecognized key: "constructor"/,
      ],
    ] as const
  ).map(([what, body, message]) => ({
    route: 'POST /orders',
    what,
    request: post('/orders', json(body)),
    status: 400,
    message,
  })),
  ...(
    [
      [
        'a price of 1e999',
        `{"userId":"${id('user')}","items":[{"sku":"A","quantity":1,"price":1e999}],"currency":"EUR"}`,
        /number too large to represent \(at "price"\)/,
      ],
      [
        'a quantity of -1e999',
        `{"userId":"${id('user')}","items":[{"sku":"A","quantity":-1e999,"price":1}],"currency":"EUR"}`,
        /number too large to represent \(at "quantity"\)/,
      ],
    ] as const
  ).map(([what, body, message]) => ({
    route: 'POST /orders',
    what,
    request: post('/orders', body),
    status: 400,
    message,
  })),
  {
    route: 'POST /orders',
    what: 'a userId that is not UTF-8',
    request: post(
      '/orders',
      new Uint8Array([
        ...bytes(`{"userId":"${id()}`),
        0xff,
        0xfe,
        ...bytes(`","items":[{"sku":"A","quantity":1,"price":1}],"currency":"EUR"}`),
      ]),
    ),
    status: 400,
    message: /userId: must be 1-128/,
  },
  ...(
    [
      ['an Idempotency-Key with a space', `${id('key')} x`, /got " " at position/],
      ['an Idempotency-Key with ":"', `${id('key')}:x`, /got ":" at position/],
      ['an Idempotency-Key with "*"', `${id('key')}*`, /got "\*" at position/],
      [
        'an Idempotency-Key of 129 characters',
        `${id('key')}-`.padEnd(129, 'k'),
        /got 129 characters/,
      ],
      ['a Latin-1 Idempotency-Key', `${id('key')}-caf\u00e9`, /got "é" at position/],
    ] as const
  ).map(([what, key, message]) => ({
    route: 'POST /orders',
    what,
    request: post('/orders', json(order()), { ...JSON_TYPE, 'idempotency-key': key }),
    status: 400,
    message: new RegExp(`Idempotency-Key must be 1-128 .*${message.source}`),
  })),

  ...malformedBodies('/analytics/events', event).map((c) => ({
    route: 'POST /analytics/events',
    ...c,
  })),
  ...(
    [
      ['a missing action', { userId: id('user') }, /action: is required/],
      ['a missing userId', { action: `${marker}-view` }, /userId: is required/],
      [
        'an action that is a number',
        event({ action: 7 }),
        /action: .*expected string, received number/,
      ],
      ['an action with a space', event({ action: `${marker} view` }), /action: must be 1-64/],
      [
        'an action of 65 characters',
        event({ action: `${marker}-`.padEnd(65, 'a') }),
        /action: must be 1-64/,
      ],
      ['a userId with ":"', event({ userId: `${id()}:x` }), /userId: must be 1-128/],
      ['a non-ASCII userId', event({ userId: `${id()}-ümlaut` }), /userId: must be 1-128/],
      ['data that is an array', event({ data: [1, 2] }), /data: .*expected record, received array/],
      ['data that is a string', event({ data: 'x' }), /data: .*expected record, received string/],
      [
        'data over 4 KiB',
        event({ data: { blob: 'x'.repeat(5_000) } }),
        /data: must be at most 4096 bytes/,
      ],
      ['an unknown field', event({ source: 'web' }), /Unrecognized key: "source"/],
      ['an event beside a batch', { ...event(), events: [event()] }, /Unrecognized key: "events"/],
      ['an empty batch', { events: [] }, /events: Too small/],
      ['a batch of 101', { events: Array.from({ length: 101 }, () => event()) }, /events: Too big/],
      [
        'a batch item without an action',
        { events: [event(), { userId: id('user') }] },
        /events\.1\.action: is required/,
      ],
      [
        'a batch item with an unknown field',
        { events: [event({ extra: 1 })] },
        /events\.0: Unrecognized key: "extra"/,
      ],
      [
        'a batch that is an object',
        { events: event() },
        /events: .*expected array, received object/,
      ],
    ] as const
  ).map(([what, body, message]) => ({
    route: 'POST /analytics/events',
    what,
    request: post('/analytics/events', json(body)),
    status: 400,
    message,
  })),
  ...(
    [
      [
        'data holding 1e999',
        `{"userId":"${id('user')}","action":"${marker}-v","data":{"n":1e999}}`,
        /number too large to represent \(at "n"\)/,
      ],
      [
        'data holding a "__proto__" key',
        `{"userId":"${id('user')}","action":"${marker}-v","data":{"__proto__":{"polluted":true}}}`,
        /the key "__proto__"/,
      ],
      [
        'data nested 40 deep',
        `{"userId":"${id('user')}","action":"${marker}-v","data":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`,
        /deeper than 32 levels/,
      ],
    ] as const
  ).map(([what, body, message]) => ({
    route: 'POST /analytics/events',
    what,
    request: post('/analytics/events', body),
    status: 400,
    message,
  })),

  ...idRoutes.flatMap(([route, field, path]) =>
    badIds().map(([what, value, message]) => ({
      route,
      what: `an id with ${what}`,
      request: get(path(encodeURIComponent(value))),
      status: 400,
      message: new RegExp(`${field} must be 1-128 characters .*${message.source}`),
    })),
  ),

  ...(
    [
      ['February 30th', '2026-02-30'],
      ['February 29th of a common year', '2025-02-29'],
      ['month 13', '2026-13-01'],
      ['month 00', '2026-00-10'],
      ['day 00', '2026-01-00'],
      ['day 32', '2026-01-32'],
      ['0000-00-00', '0000-00-00'],
      ['a two-digit year', '26-01-01'],
      ['single-digit month and day', '2026-1-1'],
      ['no dashes', '20260101'],
      ['day-month-year', '01-02-2026'],
      ['a timestamp', '2026-01-01T00:00:00Z'],
      ['a trailing space', '2026-01-01 '],
      ['colons', '2026:01:01'],
      ['Arabic-Indic digits', '٢٠٢٦-٠١-٠١'],
      ['a word', 'today'],
      ['a "*"', '*'],
      ['300 characters', '2026-01-01'.padEnd(300, '0')],
    ] as const
  ).map(([what, date]) => ({
    route: 'GET /analytics/daily/{date}',
    what,
    request: get(`/analytics/daily/${encodeURIComponent(date)}`),
    status: 400,
    message: /date must be a calendar date written YYYY-MM-DD/,
  })),

  // Routes without input: only the method can be wrong; API Gateway (here serverless offline)
  // answers before any function runs.
  ...(
    [
      ['GET /health', 'POST', '/health'],
      ['GET /health', 'DELETE', '/health'],
      ['GET /openapi.json', 'POST', '/openapi.json'],
      ['GET /openapi.json', 'PUT', '/openapi.json'],
      ['POST /orders', 'PUT', '/orders'],
      ['GET /orders/{orderId}', 'DELETE', `/orders/${id('order')}`],
      ['GET /users/{userId}', 'PATCH', `/users/${id()}`],
    ] as const
  ).map(([route, method, path]) => ({
    route,
    what: `method ${method}`,
    request: { method, path, body: json({ userId: id() }), headers: JSON_TYPE },
    status: 404,
    message: /not found/i,
  })),
];

const send = async ({ method, path, body, headers }: Request) => {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: { error?: string; message?: string } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // reported below through the missing message
  }
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    text,
    message: parsed.error ?? parsed.message ?? text,
  };
};

describe('bad input to every route', () => {
  let before: TopicOffsets;
  beforeAll(async () => {
    before = await topicOffsets(stack.kafkaBrokers, TOPICS);
  });

  it('covers every route of serverless.yml', async () => {
    const routes = new Set(cases.map((c) => c.route));
    const served = (await (await fetch(`${apiUrl}/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    const documented = Object.entries(served.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...routes].sort()).toEqual(documented.sort());
  });

  it.each(cases)('$route: $what -> $status', async ({ request, status, message }) => {
    const response = await send(request);

    expect(response.status, response.text.slice(0, 300)).toBe(status);
    expect(response.contentType).toMatch(/^application\/json/);
    expect(response.message).toMatch(message);
  });

  describe('and nothing was written', () => {
    // The control: a valid order and a valid event, marked differently, that the same checks
    // must find. Without it, a check that sees nothing would prove nothing.
    const control = `ctl${randomUUID().slice(0, 8)}`;
    let messages: Awaited<ReturnType<typeof messagesSince>> = [];

    beforeAll(async () => {
      const accepted = await Promise.all([
        send(
          post(
            '/orders',
            json({
              userId: `${control}-user`,
              items: [{ sku: `${control}-SKU`, quantity: 1, price: 1 }],
              currency: 'EUR',
            }),
          ),
        ),
        send(
          post('/analytics/events', json({ userId: `${control}-user`, action: `${control}-view` })),
        ),
      ]);
      expect(accepted.map((a) => a.status)).toEqual([202, 202]);
      messages = await messagesSince(stack.kafkaBrokers, before);
    });
    afterAll(async () => {
      const made = await keysContaining(redis, control);
      if (made.length > 0) await redis.del(...made);
    });

    it('no Kafka message on orders, user.events or system.events carries the corpus ids (the control does)', () => {
      expect(
        carrying(messages, control)
          .map((m) => m.topic)
          .sort(),
      ).toEqual(['orders', 'user.events']);
      expect(carrying(messages, marker)).toEqual([]);
    });

    it('no Redis key name carries the corpus ids (the control made one)', async () => {
      expect(await keysContaining(redis, control)).toEqual([
        `user:${control}-user:recent_activity`,
      ]);
      expect(await keysContaining(redis, marker)).toEqual([]);
    });

    it('no order state and no fallback entry holds the corpus ids (the control order is there)', async () => {
      const stored = JSON.stringify([
        ...(await valuesMatching(redis, 'order:*')),
        ...(await redis.lrange('kafka_fallback:orders', 0, -1)),
        ...(await redis.lrange('kafka_fallback:user.events', 0, -1)),
      ]);
      expect(stored).toContain(control);
      expect(stored).not.toContain(marker);
    });

    it('no daily counter exists for the refused dates', async () => {
      expect(await keysContaining(redis, 'analytics:daily:2026-02-30')).toEqual([]);
      expect(await keysContaining(redis, 'analytics:daily:2026-13-01')).toEqual([]);
    });
  });
});
