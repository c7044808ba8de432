import { Keyspace } from './redis-keyspace.ts';

/**
 * Embedded mode keeps state in memory, and under `serverless offline --useInProcess` every
 * function runs in one process but from its own bundle, with its own copy of every module. So
 * the keyspace lives on `globalThis`: one for all of them, whichever function touches it first.
 */
const KEYSPACE = Symbol.for('narad.embedded.keyspace');

type Holder = { [KEYSPACE]?: Keyspace };

/** This process's embedded Redis keyspace, created on first use. */
export const embeddedKeyspace = (): Keyspace => {
  const holder = globalThis as Holder;
  holder[KEYSPACE] ??= new Keyspace();
  return holder[KEYSPACE];
};
