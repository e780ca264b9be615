/**
 * tmosh's client survives a 20 s outage against `tmosh serve`
 * (docs/architecture.md §6.2), hopping to a new source port meanwhile
 * (docs/wire.md §3.5); see outageCase.
 * @module
 */

import { NETWORK_PEERS, outageCase } from "../../harness/client_network.ts";
import { peers } from "../../harness/require_peer.ts";

const tmoshServer = peers(...NETWORK_PEERS.tmosh);

tmoshServer.test("tmosh client -> tmosh serve: a 20 s outage, then exactly the server's screen", async () => {
  await outageCase("tmosh", 20);
});
