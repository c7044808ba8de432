import { handleRecordsInOrder, kafkaHandler } from '../lib/lambda/consumer.ts';
import { getServices } from '../lib/services.ts';
import { applyUserEvent } from '../lib/users/users.ts';

/** user.events -> USER_UPDATED invalidates the cached profile, USER_LOGGED_IN stores the session. */
export const handler = kafkaHandler('userCacheEvents', (event, { recordFailed }) =>
  handleRecordsInOrder(
    event,
    async (record) => {
      await applyUserEvent(getServices(), record.value);
    },
    recordFailed,
  ),
);
