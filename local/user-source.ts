import { createServer, type Server } from 'node:http';

/**
 * A small real HTTP service standing in for the main application's user service (behind
 * GET /users/{userId}), for `npm start` on a machine without one and for the tests:
 * `GET /users/<id>` answers a profile for ids starting with `user-`, 404 otherwise, and
 * `GET /__calls/<id>` tells how often a profile was asked for (to prove cache hits).
 */
export const startUserSource = async (
  port: number,
): Promise<{ url: string; close: () => Promise<void> }> => {
  const calls = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const [, route, id = ''] = decodeURI(request.url ?? '').split('/');
    response.setHeader('content-type', 'application/json');
    if (route === '__calls') {
      response.end(JSON.stringify({ calls: calls.get(id) ?? 0 }));
      return;
    }
    if (route !== 'users' || !id.startsWith('user-')) {
      response.statusCode = 404;
      response.end(JSON.stringify({ error: 'no such user' }));
      return;
    }
    const count = (calls.get(id) ?? 0) + 1;
    calls.set(id, count);
    response.end(
      JSON.stringify({ userId: id, name: `Name of ${id}`, plan: 'free', fetchedTimes: count }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
