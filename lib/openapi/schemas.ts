import { trackedEventSchema, trackRequestSchema } from '../analytics/schema.ts';
import { orderItemSchema, orderRequestSchema } from '../orders/schema.ts';
import * as z from '../zod.ts';

// The document's JSON Schemas: the requests' from the handlers' own zod schemas, the
// responses' declared here in zod too. Why ~380 lines: every response body of the API, one
// declaration each; splitting by route would only scatter the shared ones.

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as it goes into the document. */
export type JsonSchema = z.core.JSONSchema.BaseSchema;

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/**
 * The request bodies' schemas: the SAME zod schemas the handlers validate with. Each one gets
 * a component name; nested registered schemas become `$ref`s instead of copies.
 */
const requestSchemas: ReadonlyArray<readonly [string, z.ZodMiniType]> = [
  ['OrderRequest', orderRequestSchema],
  ['OrderItem', orderItemSchema],
  ['TrackRequest', trackRequestSchema],
  ['TrackedEvent', trackedEventSchema],
];

/** What a refinement says when it fails: JSON Schema cannot express it, the text can. */
const refinementMessages = (schema: z.core.$ZodType): string[] =>
  (schema._zod.def.checks ?? []).flatMap((check) => {
    const def = check._zod.def;
    if (def.check !== 'custom') return [];
    const said = (def as { error?: (issue: never) => unknown }).error?.({} as never);
    const message = typeof said === 'string' ? said : (said as { message?: string })?.message;
    return [message ?? 'a custom check'];
  });

/**
 * The request schemas as JSON Schema 2020-12 (`io: 'input'`: what a client may send).
 * Refinements (`z.refine`) have no JSON Schema equivalent and zod drops them silently; their
 * messages are added to the `description` so the document does not promise more than the API
 * accepts. `$schema` and `$id` are removed: the dialect is the document's, and zod's `$id`
 * would carry a fragment, which 2020-12 forbids.
 * @throws when a schema uses a type JSON Schema cannot represent (zod's default), so such a
 *   change fails here instead of producing a wrong document.
 */
export const requestComponentSchemas = (): Record<string, JsonSchema> => {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of requestSchemas) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    uri: (id) => `#/components/schemas/${id}`,
    override: ({ zodSchema, jsonSchema }) => {
      const messages = refinementMessages(zodSchema);
      if (messages.length === 0) return;
      const checked = `Also checked by the API (not expressible in JSON Schema): ${messages.join('; ')}.`;
      jsonSchema.description = jsonSchema.description
        ? `${jsonSchema.description} ${checked}`
        : checked;
    },
  });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]),
  );
};

const isoTimestamp: JsonSchema = { type: 'string', format: 'date-time' };
const latencyMs: JsonSchema = { type: 'integer', minimum: 0 };
const orderStatus: JsonSchema = {
  type: 'string',
  enum: ['pending', 'processing', 'completed', 'failed'],
};

/** A part running in the function's own memory (`npm start` on a machine without it). */
const embeddedFields = {
  embedded: { const: true },
  note: { type: 'string' },
} satisfies Record<string, JsonSchema>;

/** lib/auth/rate-limit.ts `rateLimitStatus`. */
const rateLimit: JsonSchema = {
  oneOf: [
    {
      type: 'object',
      properties: {
        status: { const: 'enabled' },
        perUser: { type: 'integer', minimum: 0 },
        perService: { type: 'integer', minimum: 0 },
        windowSeconds: { type: 'integer', minimum: 1 },
        onRedisFailure: { const: 'allow' },
      },
      required: ['status', 'perUser', 'perService', 'windowSeconds', 'onRedisFailure'],
    },
    {
      type: 'object',
      properties: { status: { const: 'skipped' }, reason: { type: 'string' } },
      required: ['status', 'reason'],
    },
  ],
};

const brokers: JsonSchema = {
  type: 'array',
  items: { type: 'string' },
  description:
    "The broker addresses (host:port) the client bootstraps from (KAFKA_BROKERS), or the cluster's own when they are discovered from MSK_CLUSTER_ARN.",
};

const overall: JsonSchema = {
  type: 'string',
  enum: ['healthy', 'degraded', 'unhealthy'],
  description:
    "The design's rule: healthy when Redis is connected and Kafka connected (in development, Kafka may be down: the fallback list carries on); else degraded in development, unhealthy (503) in production. A service whose live test fails counts as down; a part running embedded makes it degraded at best.",
};

/** The responses' schemas, written by hand after the handlers and `lib/` return types. */
export const responseComponentSchemas = (): Record<string, JsonSchema> => ({
  Error: {
    type: 'object',
    description: 'Any 4xx/5xx answer of a route: the message names the problem.',
    properties: { error: { type: 'string' } },
    required: ['error'],
    additionalProperties: false,
  },
  AuthError: {
    type: 'object',
    description:
      "A refused credential: `{error}` from a function, `{message: 'Unauthorized'}` from API Gateway when the authorizer refused.",
    properties: { error: { type: 'string' }, message: { type: 'string' } },
  },
  OrderAccepted: {
    type: 'object',
    description:
      'The accepted order. A retry with the same Idempotency-Key answers this same body again (status stays `pending`; GET /orders/{orderId} has the current status).',
    properties: { orderId: { type: 'string', format: 'uuid' }, status: orderStatus },
    required: ['orderId', 'status'],
    additionalProperties: false,
  },
  OrderState: {
    type: 'object',
    description:
      "The order from the design's keys while they live (`order:{id}:result` 1 h, `:error` 24 h, `:processing` 5-10 min), then from `order:{id}:state` (15 days: the status, and the error of a failed order). The fields present depend on the status and on which key answered.",
    properties: {
      orderId: { type: 'string' },
      status: orderStatus,
      userId: { type: 'string' },
      currency: { type: 'string' },
      createdAt: isoTimestamp,
      startedAt: { ...isoTimestamp, description: 'processing' },
      items: {
        type: 'array',
        items: ref('OrderItem'),
        description: 'pending, processing, completed',
      },
      subtotal: { type: 'number', description: 'completed' },
      total: { type: 'number' },
      itemCount: { type: 'integer', description: 'completed' },
      attempts: {
        type: 'integer',
        minimum: 1,
        description:
          'completed or failed: how many processing runs the order took (1, unless a run failed and was retried)',
      },
      completedAt: { ...isoTimestamp, description: 'completed' },
      error: {
        type: 'string',
        description:
          'failed: why (the order step refused it, or its processing kept failing until it was dead-lettered)',
      },
      timestamp: {
        type: 'integer',
        description: "failed: when, in epoch milliseconds (the design's `{error, timestamp}`)",
      },
      failedAt: { ...isoTimestamp, description: 'failed' },
      deadLettered: {
        const: true,
        description:
          'failed: its processing kept failing and it went to `orders.dlq`; replaying the dead letter processes it again',
      },
      updatedAt: {
        ...isoTimestamp,
        description: 'When the order reached its status (from `order:{id}:state`)',
      },
    },
    required: ['orderId', 'status'],
  },
  EventsAccepted: {
    type: 'object',
    properties: { accepted: { type: 'integer', minimum: 1, maximum: 100 } },
    required: ['accepted'],
    additionalProperties: false,
  },
  DailyStats: {
    type: 'object',
    properties: {
      date: { type: 'string', format: 'date' },
      totalEvents: { type: 'integer', minimum: 0 },
      userActions: { type: 'integer', minimum: 0 },
      activeUsers: { type: 'integer', minimum: 0 },
      actions: {
        type: 'object',
        description: 'Count per action name.',
        additionalProperties: { type: 'integer', minimum: 0 },
      },
    },
    required: ['date', 'totalEvents', 'userActions', 'activeUsers', 'actions'],
    additionalProperties: false,
  },
  ActivityEntry: {
    type: 'object',
    properties: {
      eventId: { type: 'string' },
      action: { type: 'string' },
      data: { type: 'object' },
      timestamp: isoTimestamp,
    },
    required: ['eventId', 'action', 'timestamp'],
  },
  UserActivity: {
    type: 'object',
    properties: {
      userId: { type: 'string' },
      activity: {
        type: 'array',
        items: ref('ActivityEntry'),
        maxItems: 50,
        description: 'Newest first; the last 50 actions of the last 24 h.',
      },
    },
    required: ['userId', 'activity'],
    additionalProperties: false,
  },
  UserProfile: {
    type: 'object',
    description: 'The profile as the user service (USER_SOURCE_URL) answers it.',
    additionalProperties: true,
  },
  LiveTest: {
    description:
      "A live round trip through a service (the design's service tests): pass; fail with the error; skip when the service is down in development (in production that is a fail); unknown when the invocation had no time left to run it.",
    oneOf: [
      {
        type: 'object',
        properties: { status: { const: 'pass' }, latencyMs },
        required: ['status', 'latencyMs'],
      },
      {
        type: 'object',
        properties: { status: { const: 'fail' }, latencyMs, error: { type: 'string' } },
        required: ['status', 'error'],
      },
      {
        type: 'object',
        properties: { status: { enum: ['skip', 'unknown'] }, reason: { type: 'string' } },
        required: ['status', 'reason'],
      },
    ],
  },
  HealthReport: {
    type: 'object',
    description:
      "The design document's health report (`overall`, `timestamp`, `services`, `tests`) with more detail beside it.",
    properties: {
      overall,
      timestamp: isoTimestamp,
      services: {
        type: 'object',
        properties: {
          redis: {
            description: "What the Redis service's healthCheck() answers.",
            oneOf: [
              {
                type: 'object',
                properties: { status: { const: 'connected' }, latencyMs, ...embeddedFields },
                required: ['status', 'latencyMs'],
              },
              {
                type: 'object',
                properties: {
                  status: { type: 'string', enum: ['disconnected', 'error'] },
                  latencyMs,
                  error: { type: 'string' },
                },
                required: ['status', 'latencyMs', 'error'],
              },
            ],
          },
          kafka: {
            oneOf: [
              {
                type: 'object',
                properties: {
                  status: { const: 'connected' },
                  clientId: { type: 'string' },
                  brokers,
                  latencyMs,
                  brokerCount: {
                    type: 'integer',
                    minimum: 0,
                    description: 'How many brokers the cluster describes.',
                  },
                  controller: { type: ['integer', 'null'] },
                },
                required: [
                  'status',
                  'clientId',
                  'brokers',
                  'latencyMs',
                  'brokerCount',
                  'controller',
                ],
              },
              {
                type: 'object',
                properties: {
                  status: { const: 'disconnected' },
                  clientId: { type: 'string', description: 'Absent when Kafka is not configured.' },
                  brokers,
                  latencyMs,
                  error: { type: 'string' },
                },
                required: ['status', 'brokers', 'latencyMs', 'error'],
              },
              {
                type: 'object',
                properties: {
                  status: { const: 'connected' },
                  brokers,
                  latencyMs,
                  ...embeddedFields,
                },
                required: ['status', 'brokers', 'latencyMs', 'embedded', 'note'],
              },
            ],
          },
        },
        required: ['redis', 'kafka'],
      },
      tests: {
        type: 'object',
        properties: { redis: ref('LiveTest'), kafka: ref('LiveTest') },
        required: ['redis', 'kafka'],
      },
      profile: { type: 'string', enum: ['development', 'production'] },
      stage: { type: 'string' },
      embedded: {
        type: 'array',
        items: { type: 'string', enum: ['kafka', 'redis'] },
        description: 'The parts running in memory (npm start without them); degraded at best.',
      },
      auth: {
        description:
          'Who may call the API (AUTH_MODE) and the rate limit of the POST routes (docs/security.md).',
        oneOf: [
          {
            type: 'object',
            properties: {
              mode: { const: 'session' },
              serviceKey: { type: 'string', enum: ['configured', 'not-configured'] },
              rateLimit,
            },
            required: ['mode', 'serviceKey', 'rateLimit'],
          },
          {
            type: 'object',
            properties: { mode: { const: 'none' }, warning: { type: 'string' }, rateLimit },
            required: ['mode', 'warning', 'rateLimit'],
          },
        ],
      },
    },
    required: ['overall', 'timestamp', 'services', 'tests', 'profile', 'stage', 'auth'],
  },
  PublicHealthReport: {
    type: 'object',
    description:
      'What anyone sees without the service key (AUTH_MODE=session): the overall status alone.',
    properties: { overall },
    required: ['overall'],
    additionalProperties: false,
  },
  HealthError: {
    type: 'object',
    description: "The health check itself could not run (the design's `overall: 'error'`).",
    properties: { overall: { const: 'error' }, timestamp: isoTimestamp, error: { type: 'string' } },
    required: ['overall', 'timestamp', 'error'],
  },
});
