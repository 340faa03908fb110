// Small helpers the node tests (tests/client, tests/metrics) share: a free loopback port,
// sleeping, and a timeout for Promise.race. No dependencies beyond node itself.
import net from 'node:net';

// A TCP port on 127.0.0.1 nobody listens on right now (another process may take it before
// the caller binds it; unlikely, and the start then fails with a clear log).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// 'timed out' after `ms`, for Promise.race; does not keep the process alive.
export const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms, 'timed out').unref());
