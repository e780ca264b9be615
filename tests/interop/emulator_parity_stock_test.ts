/**
 * Emulator parity against a real stock mosh-server: seeded soups of terminal
 * output (harness/terminal_soup.ts) are rendered by stock mosh-server (seen
 * through the headless client) and by tmosh's emulator, and the screens must
 * be equal cell by cell, plus cursor, rendition, title and modes. A
 * divergence is shrunk to a minimal token list and the failure message is a
 * ready-to-paste unit test for tests/unit/emulator_parity_test.ts.
 *
 * This is the bounded CI portion (TMOSH_PARITY_SEEDS, default 500, one stock
 * session per terminal size in parallel); `deno task parity` runs 10,000.
 * @module
 */

import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import {
  checkCase,
  quote,
  shrinkCase,
  StockScreens,
} from "../../harness/parity.ts";
import { SOUP_SIZES, soupCase } from "../../harness/terminal_soup.ts";

const stockServer = peers("mosh-server");
const SEEDS = Number(Deno.env.get("TMOSH_PARITY_SEEDS") ?? 500);

stockServer.test("emulator parity: seeded soups render as stock mosh-server renders them", async () => {
  const failures: string[] = [];
  let checked = 0;
  await Promise.all(SOUP_SIZES.map(async ([w, h], i) => {
    const screens = await StockScreens.start(w, h);
    try {
      for (let seed = i; seed < SEEDS; seed += SOUP_SIZES.length) {
        if (failures.length > 0) return;
        const c = soupCase(seed);
        const r = await checkCase(screens, c.tokens);
        checked++;
        if (r.diffs.length === 0) continue;
        const s = await shrinkCase(
          screens,
          `parity: seed ${seed} (${w}x${h})`,
          c.tokens,
        );
        failures.push(
          `seed ${seed} at ${w}x${h}, shrunk to ${
            quote(s.tokens.join(""))
          }:\n` +
            s.diffs.slice(0, 6).join("\n") + "\n\n" + s.source,
        );
      }
    } finally {
      await screens.close();
    }
  }));
  assert.deepEqual(failures, [], failures.join("\n\n"));
  assert.equal(checked, SEEDS);
});
