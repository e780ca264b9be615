/**
 * `tmosh connect -W host:port` (docs/wire.md §17): no terminal at all; the
 * session's SSP part only negotiates and keeps the association alive, and
 * stdin/stdout become one channel to host:port, connected from the server.
 * Usable as ssh's ProxyCommand. Exit 0 when the stream ended normally, 1
 * with one line on stderr otherwise (refused target, policy, stock server).
 * @module
 */

import { Connection } from "../protocol/network/connection.ts";
import { ErrorGuard } from "../protocol/network/guard.ts";
import { SEND_MINDELAY_CLIENT } from "../protocol/network/constants.ts";
import { Transport } from "../protocol/network/transport.ts";
import { CompleteTerminal } from "../protocol/statesync/complete_terminal.ts";
import { EmulatorApplier } from "../protocol/statesync/emulator_applier.ts";
import { UserStream } from "../protocol/statesync/user_stream.ts";
import {
  CAPABILITIES,
  negotiatedCapabilities,
  SCROLLBACK_CAPABILITY,
} from "../protocol/statesync/capabilities.ts";
import { blankFramebuffer } from "../protocol/terminal/framebuffer.ts";
import { decodeKey } from "../protocol/crypto/key.ts";
import type { ByteEnd } from "../protocol/network/channel_pipe.ts";
import type { ClientOptions } from "./client_args.ts";
import { ClientForwarding } from "./forward.ts";
import { writeAll } from "../stdio.ts";
import { relayPath } from "../protocol/network/relay_envelope.ts";

/** The server must answer within this long, ms (mosh-client's 15000). */
const FIRST_CONTACT_TIMEOUT = 15000;
/** How long the shutdown handshake may take at the end, ms. */
const SHUTDOWN_WAIT = 3000;
/** The nominal window size sent to the server (no terminal here). */
const COLS = 80, ROWS = 24;

/** Stdin and stdout as one byte stream. */
function stdioEnd(): ByteEnd {
  return {
    read: (buf) => Deno.stdin.read(buf),
    write: (bytes) => Deno.stdout.write(bytes),
    closeWrite: () => {
      try {
        Deno.stdout.close();
      } catch {
        // closed
      }
    },
    close: () => {},
  };
}

/** Runs the -W session; resolves to the exit status. */
export async function runStdioClient(options: ClientOptions): Promise<number> {
  const target = options.forward!.stdio!;
  const complain = (line: string) => writeAll(Deno.stderr, `${line}\n`);
  const guard = new ErrorGuard(options.verbose ? complain : undefined);
  const key = decodeKey(options.key);
  const connection = Connection.connect(key, {
    ip: options.ip,
    port: options.port,
    guard,
    path: relayPath(options.relayKeys), // -J: through the jump host's relay
  });
  key.fill(0);
  const applier = new EmulatorApplier();
  const transport = new Transport(connection, {
    initialLocal: new UserStream(),
    initialRemote: new CompleteTerminal(blankFramebuffer(COLS, ROWS), 0n, {
      applier,
    }),
    sendMinDelay: SEND_MINDELAY_CLIENT,
  });
  const forward = new ClientForwarding(connection, options.forward!, {
    guard,
    report: complain,
    env: Deno.env.toObject(),
  });
  const offered = [
    ...CAPABILITIES.filter((c) =>
      c !== SCROLLBACK_CAPABILITY && !forward.extraOffer().includes(c) &&
      c !== "agent.v1"
    ),
    ...forward.extraOffer(),
  ];
  const done = Promise.withResolvers<number>();
  let contact = false;
  transport.onRemoteState(() => {
    if (contact) return;
    contact = true;
    transport.ackNow();
    forward.negotiated(
      negotiatedCapabilities(transport.remoteState.capabilities, offered),
    );
    if (!forward.enabled) return done.resolve(1);
    const ch = forward.openChannel(target, stdioEnd(), (error) => {
      if (error !== null) {
        complain(`tmosh: -W ${target.host}:${target.port}: ${error}`);
      }
      done.resolve(error === null ? 0 : 1);
    });
    if (ch === null) done.resolve(1);
  });
  transport.setCurrentState(
    transport.currentState.pushHello(offered).pushResize(COLS, ROWS),
  );
  const giveUp = setTimeout(() => {
    if (contact) return;
    complain(
      `tmosh: no answer from the server at ${options.ip}:${options.port} (UDP) within ${
        FIRST_CONTACT_TIMEOUT / 1000
      } s; is the UDP port reachable?`,
    );
    done.resolve(1);
  }, FIRST_CONTACT_TIMEOUT);
  const code = await done.promise;
  clearTimeout(giveUp);
  forward.close();
  if (contact) {
    transport.startShutdown();
    const deadline = performance.now() + SHUTDOWN_WAIT;
    while (transport.sessionEnd() === null && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await transport.close();
  applier.dispose();
  return code;
}
