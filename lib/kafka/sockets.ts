import net from 'node:net';
import tls from 'node:tls';
import type { ISocketFactory } from 'kafkajs';

const KEEP_ALIVE_DELAY_MS = 60_000;

/**
 * kafkajs's own socket factory, with every socket unref'd: an idle producer connection must
 * not keep a process alive (`serverless invoke local` would never exit after the response).
 * Requests in flight still hold the process, through kafkajs's ref'd request timers; in
 * Lambda the runtime owns the process lifetime either way.
 */
export const unrefSocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect(
        { host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl },
        onConnect,
      )
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
  socket.unref();
  return socket;
};
