/**
 * A TCP proxy on 127.0.0.1 in front of a server (s3rver), whose faults a test switches on and off:
 * - `pass`: bytes go both ways untouched;
 * - `refuse`: new connections are closed at once, and open ones cut (the server is "down");
 * - `trickle`: the server's answers reach the client a few bytes at a time, each a little before
 *   the client's idle timeout would fire, so every attempt stays alive and slow.
 */
import { once } from 'node:events';
import net from 'node:net';

export type FaultMode = 'pass' | 'refuse' | 'trickle';

export class FaultProxy {
  mode: FaultMode = 'pass';
  /** In `trickle`: bytes per step, and the pause between steps. */
  trickle = { bytes: 16, everyMs: 100 };
  /** Connections accepted so far (refused ones included). */
  connections = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens on a free port of 127.0.0.1; returns `http://127.0.0.1:<port>`. */
  async start(): Promise<string> {
    this.server = net.createServer((client) => this.accept(client));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Sets the mode; `refuse` also cuts the connections open now. */
  set(mode: FaultMode): void {
    this.mode = mode;
    if (mode === 'refuse') for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.connections++;
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    // The server's answers, passed on as the mode says at the time they arrive.
    let queue = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode !== 'trickle') {
        queue = queue.then(() => void client.write(chunk));
        return;
      }
      queue = queue.then(() => this.dribble(client, chunk));
    });
  }

  private async dribble(client: net.Socket, chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length && !client.destroyed; at += this.trickle.bytes) {
      client.write(chunk.subarray(at, at + this.trickle.bytes));
      await new Promise((resolve) => setTimeout(resolve, this.trickle.everyMs));
    }
  }
}
