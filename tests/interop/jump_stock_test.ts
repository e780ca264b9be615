/**
 * A stock mosh-server on the target works through tmosh's jump-host relay
 * (docs/wire.md §16): the relay forwards the inner datagrams unchanged, so
 * the server never learns there is a relay. Three network namespaces
 * (harness/netns.ts); the client has no route to the target.
 * @module
 */

import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { JUMP_PEERS, startJumpSession } from "../../harness/jump_session.ts";
import {
  endWithExit,
  markedCommands,
  stepEcho,
  stepResize,
} from "../../harness/client_session.ts";

peers(...JUMP_PEERS, "mosh-server").test(
  "jump: tmosh connect -J bastion --server=mosh-server target; echo, resize, exit through the relay",
  async () => {
    const s = await startJumpSession({ server: "mosh-server" });
    try {
      const commands = await markedCommands(s.mark);
      assert.ok(
        commands.some((c) => /^\d+: mosh-server /.test(c)),
        JSON.stringify(commands),
      );
      assert.equal((await s.relayProcesses()).length, 1);
      await stepEcho(s.tmux);
      const [relay] = await s.relays();
      assert.match(relay.client ?? "", new RegExp(`^${s.net.addr.client}:`));
      await stepResize(s.tmux);
      await endWithExit({ tmux: s.tmux, mark: s.mark, stop: s.stop });
    } finally {
      await s.stop();
    }
  },
);
