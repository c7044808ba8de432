import { NotFoundError, ServiceUnavailableError } from '../errors.ts';

/** Where profiles come from on a cache miss: the main application's user service. */
export type UserSource = (userId: string) => Promise<Record<string, unknown>>;

/**
 * A UserSource over HTTP: `GET <baseUrl>/users/<userId>` answering the profile as JSON.
 * @throws NotFoundError on 404; ServiceUnavailableError when the service fails or is slow.
 */
export const httpUserSource =
  (baseUrl: string, timeoutMs = 2_000): UserSource =>
  async (userId) => {
    const url = `${baseUrl.replace(/\/$/, '')}/users/${encodeURIComponent(userId)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new ServiceUnavailableError(
        `The user service at USER_SOURCE_URL did not answer (${error instanceof Error ? error.message : String(error)})`,
        'user-source',
        { cause: error },
      );
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new NotFoundError(`User ${userId} was not found`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ServiceUnavailableError(
        `The user service answered ${response.status}; try again later`,
        'user-source',
      );
    }
    return (await response.json()) as Record<string, unknown>;
  };
