/**
 * tmosh's client through an impaired network (docs/architecture.md §6.2): a bare
 * `tmosh client` under tmux, through the userspace relay, against `tmosh
 * serve`: 30% loss with 100 ms delay each way, then a roam to a new source
 * port and one to another source address; and Ctrl-^ . while the server is
 * unreachable (the client gives up, the server times out: nothing is left
 * behind). The same against stock mosh-server is in
 * tests/interop/client_network_stock_test.ts; the outages are in
 * client_outage_*_test.ts (they run in parallel).
 * @module
 */

import {
  lossAndRoam,
  NETWORK_PEERS,
  quitWhileUnreachable,
} from "../../harness/client_network.ts";
import { peers } from "../../harness/require_peer.ts";

const tmoshServer = peers(...NETWORK_PEERS.tmosh);

tmoshServer.test("tmosh client -> tmosh serve: 30% loss with 100 ms delay, roam to a new port and address", async () => {
  await lossAndRoam("tmosh");
});

tmoshServer.test("tmosh client -> tmosh serve: Ctrl-^ . while unreachable; client gives up, server times out", async () => {
  await quitWhileUnreachable("tmosh");
});
