import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertSafeBind,
  DEVELOPMENT_TOKEN,
  isLoopbackHost,
} from '../../local/upstash-gateway/bind-policy.ts';
import type { RedisCommand } from '../../local/upstash-gateway/command-parsing.ts';
import { refusalOf } from '../../local/upstash-gateway/command-policy.ts';
import { createScriptCommandTranslator } from '../../local/upstash-gateway/script-commands.ts';
import { translateScript } from '../../local/upstash-gateway/script-shebang.ts';

/**
 * The local Upstash gateway's pure decisions: how it rewrites scripts carrying Upstash's flags
 * for a Redis 7.0, which commands it refuses, and where it agrees to listen. The behaviour over
 * HTTP with the real client is in test/integration/upstash-gateway.test.ts.
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

describe('commands the gateway refuses', () => {
  it.each<[RedisCommand, string]>([
    [['FLUSHALL'], 'flushall'],
    [['flushdb', 'ASYNC'], 'flushdb'],
    [['CONFIG', 'SET', 'maxmemory', '1mb'], 'config set'],
    [['CONFIG', 'SET', 'notify-keyspace-events', 'KEA', 'maxmemory', '1mb'], 'config set'],
    [['CONFIG', 'REWRITE'], 'config rewrite'],
    [['DEBUG', 'SLEEP', '5'], 'debug'],
    [['CLIENT', 'PAUSE', '1000'], 'client pause'],
    [['client', 'kill', 'TYPE', 'normal'], 'client kill'],
    [['CLIENT', 'REPLY', 'OFF'], 'client reply'],
    [['MODULE', 'LOAD', '/tmp/x.so'], 'module'],
    [['REPLICAOF', '127.0.0.1', '6380'], 'replicaof'],
    [['SLAVEOF', 'NO', 'ONE'], 'slaveof'],
    [['SHUTDOWN', 'NOSAVE'], 'shutdown'],
    [['SAVE'], 'save'],
    [['BGSAVE'], 'bgsave'],
    [['ACL', 'SETUSER', 'default', 'off'], 'acl setuser'],
    [['SWAPDB', '0', '1'], 'swapdb'],
    [['SELECT', '1'], 'select'],
    [['SUBSCRIBE', 'chat'], 'subscribe'],
  ])('refuses %j, naming %s', (command, shown) => {
    expect(refusalOf(command)).toMatch(
      new RegExp(`^ERR command '${shown}' is not supported by the local Upstash gateway: .+`),
    );
  });

  it.each<RedisCommand>([
    ['GET', 'k'],
    ['PUBLISH', 'chat', 'hello'],
    ['CONFIG', 'GET', 'maxmemory'],
    ['CONFIG', 'SET', 'notify-keyspace-events', 'Ex'],
    ['CLIENT', 'LIST'],
    ['CLIENT', 'SETNAME', 'me'],
    ['ACL', 'WHOAMI'],
    ['DBSIZE'],
    ['INFO', 'server'],
    ['SCRIPT', 'FLUSH'],
  ])('lets %j through, as Upstash does', (...command) => {
    expect(refusalOf(command as RedisCommand)).toBeUndefined();
  });
});

describe('where the gateway listens', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.20', false],
    ['128.0.0.1', false],
    ['127.example.com', false],
    ['gateway.local', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it('listens on loopback with any token, the development one included', () => {
    expect(() => assertSafeBind('127.0.0.1', DEVELOPMENT_TOKEN)).not.toThrow();
  });

  it('refuses another interface with the public development token or a short token, saying what to set', () => {
    expect(() => assertSafeBind('0.0.0.0', DEVELOPMENT_TOKEN)).toThrow(
      /^refusing to listen on 0\.0\.0\.0, .*public development token: set UPSTASH_REDIS_REST_TOKEN to a secret of at least 16 characters/,
    );
    expect(() => assertSafeBind('192.168.1.20', 'short')).toThrow(/the token has 5 characters/);
    expect(() => assertSafeBind('0.0.0.0', 'x'.repeat(32))).not.toThrow();
  });
});
