import { BadRequestError } from './errors.ts';

/** One Redis command as sent to Redis: the name, then every argument as a string. */
export type RedisCommand = [name: string, ...args: string[]];

const COMMAND_EXAMPLE = 'send a JSON array such as ["SET", "key", "value"]';
const LIST_EXAMPLE =
  'send a JSON array of command arrays such as [["SET", "k", "v"], ["GET", "k"]]';

/**
 * Parses a request body as JSON.
 *
 * Returns the parsed value. Throws `BadRequestError` (400) naming the parse problem.
 */
export const parseJsonBody = (body: Buffer): unknown => {
  if (body.length === 0) throw new BadRequestError(`request body is empty; ${COMMAND_EXAMPLE}`);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new BadRequestError(`request body is not valid JSON (${reason}); ${COMMAND_EXAMPLE}`, {
      cause: error,
    });
  }
};

// The client sends strings, numbers and booleans (its serializer leaves those three as they are).
const toArgument = (value: unknown, position: number, where: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  const shown = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new BadRequestError(
    `${where}: element ${position} is ${shown}; every element must be a string, a finite number or a boolean (serialize objects to JSON strings first)`,
  );
};

/**
 * Validates one command array (`["SET", "k", 1]`) and turns each argument into its string form.
 *
 * Returns the command. Throws `BadRequestError` when `value` is not a non-empty array whose
 * first element is a non-empty string and whose other elements are strings, numbers or booleans.
 */
export const toRedisCommand = (value: unknown, where: string): RedisCommand => {
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError(`${where} must be a non-empty JSON array; ${COMMAND_EXAMPLE}`);
  }
  const [name, ...rest] = value;
  if (typeof name !== 'string' || name.length === 0) {
    throw new BadRequestError(
      `${where}: the first element must be the command name as a string; ${COMMAND_EXAMPLE}`,
    );
  }
  return [name, ...rest.map((argument, index) => toArgument(argument, index + 2, where))];
};

/**
 * Parses the body of `POST /`.
 *
 * Returns the command. Throws `BadRequestError` for invalid JSON or a wrong shape.
 */
export const parseCommandBody = (body: Buffer): RedisCommand =>
  toRedisCommand(parseJsonBody(body), 'the command');

/**
 * Parses the body of `POST /pipeline` and `POST /multi-exec`.
 *
 * Returns the commands in order. Throws `BadRequestError` for invalid JSON, an empty list, or
 * any entry that is not a valid command array.
 */
export const parseCommandListBody = (body: Buffer): RedisCommand[] => {
  const value = parseJsonBody(body);
  if (!Array.isArray(value) || value.length === 0) {
    throw new BadRequestError(`request body must be a non-empty JSON array; ${LIST_EXAMPLE}`);
  }
  return value.map((entry, index) => toRedisCommand(entry, `command ${index + 1}`));
};
