/**
 * A tmosh session's two ends in one test process, on real UDP over
 * loopback: a server and a client Connection under one new key, and the
 * SSP transports a session runs on them (server: terminal out, keystrokes
 * in; client: the reverse), with no terminal or pty behind them.
 * @module
 */

import { Connection } from "../protocol/network/connection.ts";
import { Transport } from "../protocol/network/transport.ts";
import { UserStream } from "../protocol/statesync/user_stream.ts";
import { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import { blankFramebuffer } from "../protocol/terminal/framebuffer.ts";
import { generateKey } from "../protocol/crypto/key.ts";

/** A server Connection on 127.0.0.1 and a client Connection to it, under one new key. */
export async function connectionPair(): Promise<
  { server: Connection; client: Connection }
> {
  const key = generateKey();
  const server = await Connection.listen(key.slice(), {
    ip: "127.0.0.1",
    portRange: [0, 0],
  });
  const client = Connection.connect(key.slice(), {
    ip: "127.0.0.1",
    port: server.port,
  });
  return { server, client };
}

/** The server's and the client's transports of an 80x24 session on `pair`. */
export function sessionTransports(
  pair: { server: Connection; client: Connection },
): {
  server: Transport<CompleteTerminal, UserStream>;
  client: Transport<UserStream, CompleteTerminal>;
} {
  return {
    server: new Transport(pair.server, {
      initialLocal: new CompleteTerminal(blankFramebuffer(80, 24)),
      initialRemote: new UserStream(),
      sendMinDelay: 8,
    }),
    client: new Transport(pair.client, {
      initialLocal: new UserStream(),
      initialRemote: new CompleteTerminal(blankFramebuffer(80, 24)),
      sendMinDelay: 1,
    }),
  };
}
