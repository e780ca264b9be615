/**
 * `tmosh client` (the mosh-client contract: MOSH_KEY=KEY deno run -A
 * harness/faulty_client.ts IP PORT) whose every frame throws right after it
 * is written to the terminal, through the client's drawing seam
 * (`ClientRunOptions.onFrame`). Drawing happens on timers, in microtasks and
 * inside keyboard input (local echo), so a client that survives this has its
 * loop boundaries in place (tests/e2e/loop_boundary_test.ts).
 * @module
 */

import { clientMain } from "../client/client_args.ts";
import { runClient } from "../client/session.ts";

if (import.meta.main) {
  const status = await clientMain(Deno.args, {
    runClient: (options) =>
      runClient(options, {
        onFrame: () => {
          throw new Error("injected drawing failure");
        },
      }),
  });
  Deno.exit(status);
}
