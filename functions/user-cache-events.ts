import { type ConsumerDeps, handleRecordsInOrder, kafkaHandler } from '../lib/lambda/consumer.ts';
import { getServices } from '../lib/services.ts';
import { applyUserEvent } from '../lib/users/users.ts';

/**
 * user.events -> USER_UPDATED invalidates the cached profile, USER_LOGGED_IN stores the session;
 * both idempotent, so a redelivery leaves the same state. Malformed USER_* events go to
 * `user.events.dlq`.
 */
export const userCacheEvents = ({ services, maxAttempts, hooks }: ConsumerDeps) =>
  kafkaHandler('userCacheEvents', (event, { recordFailed, deadLetters }) => {
    const deps = services();
    return handleRecordsInOrder(
      event,
      async (record) => {
        await applyUserEvent(deps, record.value);
      },
      recordFailed,
      { deadLetters: deadLetters(deps, maxAttempts), ...(hooks ? { hooks } : {}) },
    );
  });

export const handler = userCacheEvents({ services: getServices });
