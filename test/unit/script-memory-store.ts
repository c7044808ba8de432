import type { ScriptCall } from '../../lib/redis/scripts.ts';

type Stored = { type: 'string'; value: string } | { type: 'set'; value: Set<string> };

/**
 * A Redis of a few commands in a Map, with Redis's replies (GET of a missing key is null,
 * INCRBY and SADD answer numbers), for running a script's JavaScript mirror (`emulate`) in
 * tests. TTLs are kept as the seconds they were set to.
 */

export const memoryRedis = () => {
  const data = new Map<string, Stored>();
  const ttl = new Map<string, number>();
  const integer = (text: string) => {
    if (!/^-?\d+$/.test(text)) throw new Error('ERR value is not an integer or out of range');
    return Number(text);
  };
  const call: ScriptCall = (command, ...input) => {
    const [key = '', ...args] = input.map(String);
    const stored = data.get(key);
    switch (command.toUpperCase()) {
      case 'GET':
        return stored?.type === 'string' ? stored.value : null;
      case 'SET': {
        data.set(key, { type: 'string', value: args[0] ?? '' });
        const ex = args.findIndex((arg) => arg.toUpperCase() === 'EX');
        if (ex >= 0) ttl.set(key, integer(args[ex + 1] ?? ''));
        else ttl.delete(key);
        return 'OK';
      }
      case 'INCRBY': {
        const next =
          (stored?.type === 'string' ? integer(stored.value) : 0) + integer(args[0] ?? '');
        data.set(key, { type: 'string', value: String(next) });
        return next;
      }
      case 'SADD': {
        const set = stored?.type === 'set' ? stored.value : new Set<string>();
        const before = set.size;
        for (const member of args) set.add(member);
        data.set(key, { type: 'set', value: set });
        return set.size - before;
      }
      case 'EXPIRE':
        if (!data.has(key)) return 0;
        ttl.set(key, integer(args[0] ?? ''));
        return 1;
      default:
        throw new Error(`ERR unknown command '${command}' in the test store`);
    }
  };
  return { call, data, ttl };
};
