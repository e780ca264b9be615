/**
 * tmosh's client survives a 20 s outage against `tmosh serve` (issue 5 §7),
 * hopping to a new source port meanwhile (§5); see outageCase.
 * @module
 */

import { outageCase } from "../../harness/client_network.ts";

Deno.test("tmosh client -> tmosh serve: a 20 s outage, then exactly the server's screen", async () => {
  await outageCase("tmosh", 20);
});
