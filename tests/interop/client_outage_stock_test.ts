/**
 * tmosh's client survives a 30 s outage against stock mosh-server
 * (docs/architecture.md §6.2; the 20 s case is covered with a margin), hopping to a new source port
 * meanwhile; see outageCase.
 * @module
 */

import { NETWORK_PEERS, outageCase } from "../../harness/client_network.ts";
import { peers } from "../../harness/require_peer.ts";

const stockServer = peers(...NETWORK_PEERS.stock);

stockServer.test("tmosh client -> stock mosh-server: a 30 s outage, then exactly the server's screen", async () => {
  await outageCase("stock", 30);
});
