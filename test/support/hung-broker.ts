import net from 'node:net';

/**
 * A TCP listener on 127.0.0.1 that accepts every connection and never answers: a broker behind
 * a security group that drops packets after the handshake, or one that hangs in a failover.
 * Unlike a stopped broker, which refuses at once, it makes every client wait out its timeouts.
 */
export const startHungBroker = async (): Promise<{
  address: string;
  close: () => Promise<void>;
}> => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
