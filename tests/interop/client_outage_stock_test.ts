/**
 * tmosh's client survives a 30 s outage against stock mosh-server (issue 5
 * §5; §7's 20 s case is covered with a margin), hopping to a new source port
 * meanwhile; see outageCase.
 * @module
 */

import { outageCase } from "../../harness/client_network.ts";

Deno.test("tmosh client -> stock mosh-server: a 30 s outage, then exactly the server's screen", async () => {
  await outageCase("stock", 30);
});
