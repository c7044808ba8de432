import { getConsumerServices } from '../lib/consumer-services.ts';
import { type ConsumerDeps, kafkaConsumer } from '../lib/lambda/consumer/kafka-consumer.ts';
import { applyUserEvent } from '../lib/users/users.ts';

/**
 * user.events -> USER_UPDATED invalidates the cached profile, USER_LOGGED_IN stores the session;
 * both idempotent, so a redelivery leaves the same state. Malformed USER_* events go to
 * `user.events.dlq`.
 */
export const userCacheEvents = (deps: ConsumerDeps) =>
  kafkaConsumer({
    name: 'userCacheEvents',
    mode: 'in-order',
    ...deps,
    handle: async (record, services) => {
      await applyUserEvent(services, record.value);
    },
  });

export const handler = userCacheEvents({ services: getConsumerServices });
