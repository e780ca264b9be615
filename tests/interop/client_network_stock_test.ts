/**
 * tmosh's client through an impaired network (docs/architecture.md §6.2) against stock
 * mosh-server: 30% loss with 100 ms delay, two roams, and Ctrl-^ . while the
 * server is unreachable; see lossAndRoam and quitWhileUnreachable in
 * harness/client_network.ts.
 * @module
 */

import {
  lossAndRoam,
  NETWORK_PEERS,
  quitWhileUnreachable,
} from "../../harness/client_network.ts";
import { peers } from "../../harness/require_peer.ts";

const stockServer = peers(...NETWORK_PEERS.stock);

stockServer.test("tmosh client -> stock mosh-server: 30% loss with 100 ms delay, roam to a new port and address", async () => {
  await lossAndRoam("stock");
});

stockServer.test("tmosh client -> stock mosh-server: Ctrl-^ . while unreachable; client gives up, server times out", async () => {
  await quitWhileUnreachable("stock");
});
