import { getConsumerServices } from '../lib/consumer-services.ts';
import { type ConsumerDeps, kafkaConsumer } from '../lib/lambda/consumer/kafka-consumer.ts';
import { userEventBatches } from '../lib/users/user-events.ts';

/**
 * user.events -> USER_UPDATED invalidates the cached profile, USER_LOGGED_IN stores the session:
 * the whole batch in one Redis pipeline, which a redelivery replays to the same state.
 * Malformed USER_* events go to `user.events.dlq`, each alone.
 */
export const userCacheEvents = (deps: ConsumerDeps) => {
  const batches = userEventBatches();
  return kafkaConsumer({
    name: 'userCacheEvents',
    mode: 'whole-batch',
    ...deps,
    problemOf: batches.problemOf,
    handle: (slices, services) => batches.apply(services.redis, slices),
  });
};

export const handler = userCacheEvents({ services: getConsumerServices });
