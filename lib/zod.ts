import * as z from 'zod/mini';
import { _parse, $constructor, $ZodError } from 'zod/v4/core';
import en from 'zod/v4/locales/en.js';

// Every schema of the project is zod/mini, imported from here (`import * as z from '../zod.ts'`).
// Why mini: classic zod's chained methods put all of zod in every bundle (~90 KB, unused parts
// too), and evaluating it was 45-67 % of each function's init above its import floor (issue #18,
// bench/coldstart.ts); mini's functions are tree-shaken to what the schemas use. Same core, same
// parsing, same messages, given the two things classic did by itself that mini leaves to us.
// (A third, classic's memoizer for inputs with reference cycles, is left out: what we parse
// comes from JSON.parse or the environment, which cannot hold a cycle.)

// 1. Classic installs English messages on first use; mini has no locale (every message would be
// "Invalid input"). Importing this module installs English before any schema can parse.
z.config(en());

export * from 'zod/mini';

/** Classic zod's failed-parse error: mini's own is named `$ZodError`. */
const ZodError = $constructor<$ZodError>(
  'ZodError',
  (inst, issues) => {
    $ZodError.init(inst, issues);
    inst.name = 'ZodError';
  },
  undefined,
  { Parent: Error },
);

/**
 * 2. `schema`'s output for `value`, or a thrown `ZodError`, as classic's `schema.parse` threw
 * (mini's `schema.parse` throws one named `$ZodError`): dead letters and logs name a record's
 * failure `ZodError`, and operators may filter on it. Use this, not the method.
 */
export const parse = _parse(ZodError);

/** True for any zod error: classic's `ZodError`, mini's `$ZodError`, this module's `ZodError`. */
export const isZodError = (error: unknown): error is $ZodError => error instanceof $ZodError;
