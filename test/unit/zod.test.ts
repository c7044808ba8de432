import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import * as classic from 'zod';
import * as z from '../../lib/zod.ts';

// lib/zod.ts is zod/mini plus what classic zod did by itself: English messages, and a parse
// failure named ZodError. Classic zod is imported here only as the reference to compare with.

const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

const thrownBy = (parse: () => unknown): Error => {
  try {
    parse();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the parse to throw');
};

describe('lib/zod.ts', () => {
  it('gives English messages in a process that loads only what lib/ imports (no classic zod)', async () => {
    // A process of its own: here classic zod (imported above) would install English itself.
    const script = [
      `const { orderRequestSchema } = await import('./lib/orders/schema.ts');`,
      'const { error } = orderRequestSchema.safeParse({ userId: 7, items: [], currency: "EUR" });',
      'console.log(JSON.stringify(error.issues.map((issue) => issue.message)));',
    ].join('\n');

    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT },
    );

    expect(JSON.parse(stdout)).toEqual([
      'Invalid input: expected string, received number',
      'Too small: expected array to have >=1 items',
    ]);
  }, 30_000);

  it("throws from parse what classic zod's .parse threw: a ZodError, same message and stack header", () => {
    const value = { orderId: 7, extra: true };
    const ours = thrownBy(() => z.parse(z.strictObject({ orderId: z.string() }), value));
    const theirs = thrownBy(() => classic.strictObject({ orderId: classic.string() }).parse(value));

    expect(ours).toBeInstanceOf(Error);
    expect(ours.name).toBe('ZodError');
    expect(ours.name).toBe(theirs.name);
    expect(ours.message).toBe(theirs.message);
    expect(ours.stack?.split('\n')[0]).toBe(theirs.stack?.split('\n')[0]);
    expect((ours as classic.ZodError).issues).toEqual((theirs as classic.ZodError).issues);
  });

  it('tells any zod error from other errors', () => {
    const schema = z.object({ orderId: z.string() });

    expect(z.isZodError(thrownBy(() => z.parse(schema, {})))).toBe(true);
    expect(z.isZodError(schema.safeParse({}).error)).toBe(true);
    expect(z.isZodError(classic.object({}).safeParse(null).error)).toBe(true);
    expect(z.isZodError(new Error('ZodError'))).toBe(false);
    expect(z.isZodError({ name: 'ZodError', issues: [] })).toBe(false);
  });
});
