import packageJson from '../../package.json' with { type: 'json' };
import { MAX_EVENTS_PER_REQUEST } from '../analytics/schema.ts';
import { SESSION_ID } from '../auth/credentials.ts';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '../lambda/json-body.ts';
import {
  type JsonSchema,
  ref,
  requestComponentSchemas,
  responseComponentSchemas,
} from './schemas.ts';

// The OpenAPI 3.1 document of the HTTP API, served by GET /openapi.json and checked against
// openapi.json in CI. Why one file of ~400 lines: the routes read top to bottom in the API's
// order, each beside the components it shares with the others; the schemas are in schemas.ts.

/** The parts of OpenAPI 3.1 this document uses. */
export type Reference = { $ref: string };

export interface Parameter {
  name: string;
  in: 'path' | 'header';
  required: boolean;
  description: string;
  schema: JsonSchema;
}

export interface Header {
  description: string;
  schema: JsonSchema;
}

export interface MediaType {
  schema: JsonSchema;
}

export interface Response {
  description: string;
  headers?: Record<string, Header | Reference>;
  content?: Record<string, MediaType>;
}

/** Which credentials an operation takes: any one entry of the list (`{}`: none needed). */
export type SecurityRequirement = Record<string, string[]>;

export interface SecurityScheme {
  type: 'http' | 'apiKey';
  description: string;
  scheme?: 'bearer';
  in?: 'header';
  name?: string;
}

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: SecurityRequirement[];
  parameters?: Array<Parameter | Reference>;
  requestBody?: { required: boolean; description: string; content: Record<string, MediaType> };
  responses: Record<string, Response | Reference>;
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export type PathItem = Partial<Record<HttpMethod, Operation>>;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string };
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    parameters: Record<string, Parameter>;
    headers: Record<string, Header>;
    responses: Record<string, Response>;
    securitySchemes: Record<string, SecurityScheme>;
  };
}

/** The identifiers that become part of Redis keys (`lib/keys.ts` `identifier()`). */
export const IDENTIFIER_PATTERN = '^[A-Za-z0-9_.@+-]{1,128}$';

const identifierSchema: JsonSchema = { type: 'string', pattern: IDENTIFIER_PATTERN };

const pathParameter = (name: string, description: string, schema: JsonSchema): Parameter => ({
  name,
  in: 'path',
  required: true,
  description,
  schema,
});

const use = (kind: 'parameters' | 'headers' | 'responses', name: string): Reference => ({
  $ref: `#/components/${kind}/${name}`,
});

const jsonBody = (schema: JsonSchema) => ({ 'application/json': { schema } });

const answer = (
  description: string,
  schema: JsonSchema,
  headers?: Record<string, Reference>,
): Response => ({ description, ...(headers ? { headers } : {}), content: jsonBody(schema) });

/** The error answers every route shares (`httpStatusOf` in lib/lambda/http.ts). */
const errors = {
  400: use('responses', 'BadRequest'),
  401: use('responses', 'Unauthorized'),
  403: use('responses', 'Forbidden'),
  404: use('responses', 'NotFound'),
  409: use('responses', 'Conflict'),
  413: use('responses', 'PayloadTooLarge'),
  415: use('responses', 'UnsupportedMediaType'),
  429: use('responses', 'TooManyRequests'),
  500: use('responses', 'InternalError'),
  503: use('responses', 'ServiceUnavailable'),
} as const;

const errorsOf = (...statuses: Array<keyof typeof errors>) =>
  Object.fromEntries(statuses.map((status) => [String(status), errors[status]]));

/**
 * Who may call (docs/security.md). With AUTH_MODE=none (development only) no route checks anything.
 * `session`: a signed-in user; `serviceKey`: a backend service; `{}`: anyone.
 */
const access: Record<
  'public' | 'publicOrService' | 'user' | 'userOrService',
  SecurityRequirement[]
> = {
  public: [],
  publicOrService: [{}, { serviceKey: [] }],
  user: [{ session: [] }],
  userOrService: [{ session: [] }, { serviceKey: [] }],
};

const jsonRequestBody = (schema: JsonSchema, description: string) => ({
  required: true,
  description: `${description} At most ${MAX_BODY_BYTES} bytes (413 above), objects and arrays nested at most ${MAX_JSON_DEPTH} deep, no "__proto__" key, no number beyond the double range (1e999); Content-Type application/json (415 otherwise).`,
  content: jsonBody(schema),
});

const paths = (): Record<string, PathItem> => ({
  '/health': {
    get: {
      operationId: 'health',
      summary: 'Redis and Kafka connectivity, with live tests',
      description:
        "The design document's report: `overall`, `services.redis` (its healthCheck), `services.kafka` (`status`, `clientId`, `brokers`) and the live `tests` (Redis SET/GET/DEL of a throwaway key, a send to `health.test`: pass, fail, skip, unknown). `overall` is healthy with Redis and Kafka connected; in development Kafka may be down (the fallback list carries on); anything else is `degraded` in development and `unhealthy` (503) in production. Anyone gets `overall`; the whole report (services, brokers, client id, errors, auth settings) only with the service key (`x-api-key`), or for everyone with AUTH_MODE=none (development).",
      tags: ['operations'],
      security: access.publicOrService,
      responses: {
        200: answer('Healthy or degraded.', healthView),
        401: use('responses', 'Unauthorized'),
        500: answer('The check itself failed.', ref('HealthError')),
        503: answer('Unhealthy (production profile): do not send traffic.', healthView),
      },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'openapi',
      summary: 'This document',
      tags: ['operations'],
      security: access.public,
      responses: {
        200: answer('The OpenAPI 3.1 document of this API.', {
          type: 'object',
          required: ['openapi', 'info', 'paths'],
        }),
      },
    },
  },
  '/orders': {
    post: {
      operationId: 'createOrder',
      summary: 'Accept an order',
      description:
        'Stores `order:{id}:processing` (pending, 5 min) and `order:{id}:state` (pending, 15 days), and sends the order to the `orders` topic, keyed by orderId (to the fallback list while Kafka is down).',
      tags: ['orders'],
      security: access.user,
      parameters: [use('parameters', 'IdempotencyKey'), use('parameters', 'CorrelationId')],
      requestBody: jsonRequestBody(
        ref('OrderRequest'),
        "The order; `userId` must be the session's user (403 otherwise).",
      ),
      responses: {
        202: answer('Accepted; processing is asynchronous.', ref('OrderAccepted'), {
          Location: use('headers', 'Location'),
          'x-correlation-id': use('headers', 'CorrelationId'),
        }),
        ...errorsOf(400, 401, 403, 409, 413, 415, 429, 500, 503),
      },
    },
  },
  '/orders/{orderId}': {
    get: {
      operationId: 'getOrder',
      summary: "An order's state",
      description:
        'Only the user who placed the order sees it; for anyone else it is a 404, the same as an unknown id, so ids cannot be probed.',
      tags: ['orders'],
      security: access.user,
      parameters: [pathParameter('orderId', 'As answered by POST /orders.', identifierSchema)],
      responses: {
        200: answer(
          'The order: pending (accepted, in Kafka or parked in the fallback list), processing, completed or failed (with its error), for 15 days.',
          ref('OrderState'),
        ),
        ...errorsOf(400, 401, 404, 500, 503),
      },
    },
  },
  '/analytics/events': {
    post: {
      operationId: 'trackEvents',
      summary: 'Track one action, or a batch',
      description:
        "Each event goes to `user.events` as a USER_ACTION keyed by userId; the user's recent activity keeps the last 50 for 24 h. A session tracks events of its own user only (403 otherwise); the service key tracks any user's.",
      tags: ['analytics'],
      security: access.userOrService,
      parameters: [use('parameters', 'CorrelationId')],
      requestBody: jsonRequestBody(
        ref('TrackRequest'),
        `One event, or {events: [...]} of at most ${MAX_EVENTS_PER_REQUEST}.`,
      ),
      responses: {
        202: answer('Accepted: how many events were sent.', ref('EventsAccepted')),
        ...errorsOf(400, 401, 403, 413, 415, 429, 500, 503),
      },
    },
  },
  '/analytics/daily/{date}': {
    get: {
      operationId: 'getDailyStats',
      summary: "A day's counters",
      description:
        'Totals over all users (no per-user data): any signed-in user or the service key.',
      tags: ['analytics'],
      security: access.userOrService,
      parameters: [
        pathParameter('date', 'A real calendar date (UTC), YYYY-MM-DD.', {
          type: 'string',
          format: 'date',
          pattern: '^\\d{4}-\\d{2}-\\d{2}$',
        }),
      ],
      responses: {
        200: answer('The counters (zero for a day without events).', ref('DailyStats')),
        ...errorsOf(400, 401, 500, 503),
      },
    },
  },
  '/users/{userId}/activity': {
    get: {
      operationId: 'getUserActivity',
      summary: "A user's recent activity",
      description: "The signed-in user's own only (403 for anyone else's).",
      tags: ['users'],
      security: access.user,
      parameters: [pathParameter('userId', 'The user.', identifierSchema)],
      responses: {
        200: answer('The last 50 actions of the last 24 h, newest first.', ref('UserActivity')),
        ...errorsOf(400, 401, 403, 500, 503),
      },
    },
  },
  '/users/{userId}': {
    get: {
      operationId: 'getUser',
      summary: "A user's profile (cache-aside)",
      description:
        "Served from `user:{id}:profile` when cached (no upstream call), else fetched from the user service and cached for 10 minutes. The signed-in user's own only (403 for anyone else's).",
      tags: ['users'],
      security: access.user,
      parameters: [pathParameter('userId', 'The user.', identifierSchema)],
      responses: {
        200: answer('The profile.', ref('UserProfile'), {
          'x-cache': use('headers', 'Cache'),
          'x-cache-store': use('headers', 'CacheStore'),
        }),
        ...errorsOf(400, 401, 403, 404, 500, 503),
      },
    },
  },
});

/** GET /health's body: the whole report for the service key, else the status alone. */
const healthView: JsonSchema = { oneOf: [ref('HealthReport'), ref('PublicHealthReport')] };

const errorAnswer = (description: string, headers?: Record<string, Reference>): Response =>
  answer(description, ref('Error'), headers);

/**
 * The OpenAPI 3.1 document of the HTTP API: request bodies from the handlers' zod schemas,
 * responses written by hand. `openapi.json` at the repository root is this, generated by
 * `node --import tsx local/openapi-cli.ts`; a unit test fails when the two differ.
 */
export const buildOpenApiDocument = (): OpenApiDocument => ({
  openapi: '3.1.0',
  info: {
    title: 'Narad Services',
    version: packageJson.version,
    description:
      "The HTTP API of Narad's messaging and caching layer: orders and analytics events into Kafka, state and counters from Redis.",
  },
  tags: [
    { name: 'orders', description: 'Orders, processed asynchronously by processOrders.' },
    { name: 'analytics', description: 'Tracked actions and daily counters.' },
    { name: 'users', description: 'Cached profiles and recent activity.' },
    { name: 'operations', description: 'Health and this document.' },
  ],
  paths: paths(),
  components: {
    schemas: { ...requestComponentSchemas(), ...responseComponentSchemas() },
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          "Makes a retry safe for 24 h. A key is the user's own (another user's same key is another key). The same key with the same body answers exactly the first answer (202, the same orderId and body, plus `idempotent-replayed: true`) and creates nothing, whatever the order's status by now; the same key with another body (compared after parsing, so key order does not count) is a 409. A duplicate sent while the first is still being accepted waits for its answer (up to 5 s, else 409: retry). After a failed attempt (503), a retry with the key finishes the same orderId.",
        schema: identifierSchema,
      },
      CorrelationId: {
        name: 'x-correlation-id',
        in: 'header',
        required: false,
        description:
          "Carried into the Kafka message headers (first 128 characters); API Gateway's request id when absent.",
        schema: { type: 'string' },
      },
    },
    headers: {
      Location: {
        description: 'The new order: /orders/{orderId}.',
        schema: { type: 'string' },
      },
      CorrelationId: {
        description: 'The correlation id the request was handled with.',
        schema: { type: 'string' },
      },
      Cache: {
        description: 'hit: served from the cache, no upstream call; miss: fetched and cached.',
        schema: { type: 'string', enum: ['hit', 'miss'] },
      },
      CacheStore: {
        description:
          'Where the profile was read from (hit) or cached (miss): redis, or memory while Redis is unreachable.',
        schema: { type: 'string', enum: ['redis', 'memory'] },
      },
      RetryAfter: {
        description: 'Seconds to wait before retrying.',
        schema: { type: 'string', pattern: '^\\d+$' },
      },
      WwwAuthenticate: {
        description: 'The scheme the API expects: Bearer (a session id).',
        schema: { type: 'string' },
      },
    },
    responses: {
      BadRequest: errorAnswer(
        'Invalid input (empty, malformed or too deeply nested JSON, a body that does not match the schema, an unsafe identifier or date); the message names the field and the problem; nothing was changed.',
      ),
      Unauthorized: answer(
        "No credentials, a malformed or unknown session id, an expired session, or a wrong x-api-key; nothing was changed. From API Gateway when the authorizer refused (`{message: 'Unauthorized'}`), else from the function (`{error}`).",
        ref('AuthError'),
        { 'www-authenticate': use('headers', 'WwwAuthenticate') },
      ),
      Forbidden: errorAnswer(
        "The session's user may not do this: another user's data, or a route the service key may not call; nothing was changed.",
      ),
      NotFound: errorAnswer(
        'Unknown, or expired (an order older than 15 days; an order of another user answers the same, so ids cannot be probed).',
      ),
      Conflict: errorAnswer(
        'The Idempotency-Key was already used with a different body, or a request with it is still being accepted (retry in a few seconds); nothing was changed.',
      ),
      PayloadTooLarge: errorAnswer(
        `The body is larger than ${MAX_BODY_BYTES} bytes; nothing was changed.`,
      ),
      UnsupportedMediaType: errorAnswer('The Content-Type is not JSON; nothing was changed.'),
      TooManyRequests: errorAnswer(
        'The caller made more POST requests to this route than its limit per window allows (RATE_LIMIT_PER_USER, RATE_LIMIT_PER_SERVICE per RATE_LIMIT_WINDOW_SECONDS); nothing was changed. Retry after `retry-after` seconds.',
        { 'retry-after': use('headers', 'RetryAfter') },
      ),
      InternalError: errorAnswer('Unexpected; the details are in the function logs.'),
      ServiceUnavailable: errorAnswer(
        'Redis, Kafka (and its fallback) or the user service could not be reached; retry later.',
        { 'retry-after': use('headers', 'RetryAfter') },
      ),
    },
    securitySchemes: {
      session: {
        type: 'http',
        scheme: 'bearer',
        description: `Authorization: Bearer <session id>. A session exists once the login service's USER_LOGGED_IN event reached userCacheEvents (session:{id} in Redis, one hour). Session ids are opaque, ${SESSION_ID.source} (401 otherwise).`,
      },
      serviceKey: {
        type: 'apiKey',
        in: 'header',
        name: 'x-api-key',
        description:
          'The service API key (SERVICE_API_KEY, from Secrets Manager in production) of trusted backend services: analytics for any user, the detailed /health. Compared in constant time.',
      },
    },
  },
});
