import type { MSKEvent } from 'aws-lambda';
import { handleRecordsInOrder } from '../lib/lambda/consumer.ts';
import { getServices } from '../lib/services.ts';
import { applyUserEvent } from '../lib/users/users.ts';

/** user.events -> USER_UPDATED invalidates the cached profile, USER_LOGGED_IN stores the session. */
export const handler = (event: MSKEvent) =>
  handleRecordsInOrder(
    event,
    async (record) => {
      await applyUserEvent(getServices(), record.value);
    },
    ({ position, error }) =>
      console.error(
        JSON.stringify({
          level: 'ERROR',
          function: 'userCacheEvents',
          record: position,
          error: String(error),
        }),
      ),
  );
