/**
 * The gateway's error family: each class carries the HTTP status it is answered with, so the
 * server maps any failure to a response in one place (`error.status`, `{"error": message}`).
 */

/** Base of every failure the gateway answers with a non-2xx status. */
export class GatewayError extends Error {
  readonly status: number;

  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GatewayError';
    this.status = status;
  }
}

/** 400: the request body is not JSON, or not a command / list of commands. */
export class BadRequestError extends GatewayError {
  constructor(message: string, options?: ErrorOptions) {
    super(400, message, options);
    this.name = 'BadRequestError';
  }
}

/** 400: Redis answered with an error reply; `message` is Redis's text, verbatim. */
export class RedisCommandError extends GatewayError {
  constructor(message: string, options?: ErrorOptions) {
    super(400, message, options);
    this.name = 'RedisCommandError';
  }
}

/** 401: the bearer token is missing or wrong. The message never contains any token. */
export class UnauthorizedError extends GatewayError {
  constructor(options?: ErrorOptions) {
    super(
      401,
      'Unauthorized (401): missing or wrong bearer token; send "Authorization: Bearer <token>" with the token the gateway was started with (UPSTASH_REDIS_REST_TOKEN)',
      options,
    );
    this.name = 'UnauthorizedError';
  }
}

/** 404: a path the Upstash REST protocol (as this gateway speaks it) does not have. */
export class NotFoundError extends GatewayError {
  constructor(path: string, options?: ErrorOptions) {
    super(
      404,
      `no such endpoint: ${path}; this gateway answers POST /, POST /pipeline and POST /multi-exec with JSON command arrays, and streams POST /subscribe/<channel> and POST /psubscribe/<pattern>`,
      options,
    );
    this.name = 'NotFoundError';
  }
}

/** 405: a known path called with the wrong HTTP method. */
export class MethodNotAllowedError extends GatewayError {
  constructor(method: string, path: string, allowed: string, options?: ErrorOptions) {
    super(405, `${method} ${path} is not allowed; use ${allowed}`, options);
    this.name = 'MethodNotAllowedError';
  }
}

/** 413: the request body is larger than the gateway accepts. */
export class PayloadTooLargeError extends GatewayError {
  constructor(limitBytes: number, options?: ErrorOptions) {
    super(
      413,
      `request body larger than ${limitBytes} bytes; split the pipeline or store smaller values`,
      options,
    );
    this.name = 'PayloadTooLargeError';
  }
}

/** 503: Redis behind the gateway cannot be reached (the gateway keeps reconnecting). */
export class RedisUnreachableError extends GatewayError {
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super(
      503,
      `redis unreachable at ${address}: ${reason}; start redis-server or fix REDIS_URL (the gateway reconnects on its own)`,
      options,
    );
    this.name = 'RedisUnreachableError';
  }
}
