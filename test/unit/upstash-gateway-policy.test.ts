import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScriptCommandTranslator } from '../../local/upstash-gateway/script-commands.ts';
import { translateScript } from '../../local/upstash-gateway/script-shebang.ts';

/**
 * The local Upstash gateway's pure decisions: how it rewrites scripts carrying Upstash's flags
 * for a Redis 7.0. The behaviour over HTTP with the real client is in
 * test/integration/upstash-gateway.test.ts.
 */

const sha1 = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex');
const lines = (text: string) => text.split('\n').length;

describe('Upstash script flags on Redis 7.0', () => {
  it('leaves a script alone unless its shebang declares a flag only Upstash knows', () => {
    for (const script of [
      "return redis.call('GET', KEYS[1])",
      "#!lua\nreturn redis.call('GET', KEYS[1])",
      '#!lua flags=no-writes,allow-stale\nreturn 1',
      '#!lua flags=bogus\nreturn 1', // Redis refuses it with its own message
      '#!python flags=allow-key-locking\nreturn 1',
      '#!lua flags=allow-key-locking', // no line break: Redis refuses it with its own message
      '\n#!lua flags=allow-key-locking\nreturn 1', // the shebang is not the first line, so no flags are declared
    ]) {
      expect(translateScript(script), script).toBeUndefined();
    }
  });

  it('drops allow-key-locking from the shebang and keeps the flags Redis knows, in order', () => {
    const only = translateScript('#!lua flags=allow-key-locking\nreturn 1') ?? '';
    const mixed =
      translateScript('#!lua flags=no-writes,allow-key-locking,allow-oom\nreturn 1') ?? '';

    expect(only.split('\n')[0]).toBe('#!lua');
    expect(mixed.split('\n')[0]).toBe('#!lua flags=no-writes,allow-oom');
    expect(mixed).toMatch(/return 1$/);
  });

  it('adds its key rule without moving a line of the script, the same way every time (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (body) => {
        const script = `#!lua flags=allow-key-locking\n${body}`;
        const rewritten = translateScript(script) ?? '';

        expect(rewritten.startsWith('#!lua\n')).toBe(true);
        expect(rewritten.endsWith(body)).toBe(true);
        expect(lines(rewritten)).toBe(lines(script));
        expect(translateScript(script)).toBe(rewritten);
      }),
    );
  });

  it('lets EVALSHA, SCRIPT EXISTS and SCRIPT LOAD speak the client’s SHA1 of a rewritten script', () => {
    const translator = createScriptCommandTranslator();
    const script = "#!lua flags=allow-key-locking\nreturn redis.call('GET', KEYS[1])";
    const clientSha = sha1(script);
    const rewritten = translateScript(script) ?? '';

    // Before the gateway has seen the text, the client's SHA1 goes as it is (Redis: NOSCRIPT).
    expect(translator.translate(['EVALSHA', clientSha, '1', 'k']).command).toEqual([
      'EVALSHA',
      clientSha,
      '1',
      'k',
    ]);
    expect(translator.translate(['EVAL', script, '1', 'k']).command).toEqual([
      'EVAL',
      rewritten,
      '1',
      'k',
    ]);
    expect(translator.translate(['evalsha_ro', clientSha.toUpperCase(), '0']).command).toEqual([
      'evalsha_ro',
      sha1(rewritten),
      '0',
    ]);
    expect(translator.translate(['SCRIPT', 'EXISTS', clientSha, 'f'.repeat(40)]).command).toEqual([
      'SCRIPT',
      'EXISTS',
      sha1(rewritten),
      'f'.repeat(40),
    ]);
    const load = translator.translate(['SCRIPT', 'LOAD', script]);
    expect(load.command).toEqual(['SCRIPT', 'LOAD', rewritten]);
    expect(load.reply?.(Buffer.from(sha1(rewritten)))).toEqual(Buffer.from(clientSha));
  });

  it('forgets the oldest rewritten script beyond its bound', () => {
    const translator = createScriptCommandTranslator(2);
    const scripts = ['a', 'b', 'c'].map(
      (name) => `#!lua flags=allow-key-locking\nreturn '${name}'`,
    );
    for (const script of scripts) translator.translate(['EVAL', script, '0']);

    const [first, second] = scripts.map(sha1) as [string, string];
    expect(translator.translate(['EVALSHA', first, '0']).command[1]).toBe(first);
    expect(translator.translate(['EVALSHA', second, '0']).command[1]).not.toBe(second);
  });
});
