/**
 * The self-install's cost (issue 15): time to the prompt of `tmosh connect`
 * to a bare account (harness/fresh_account.ts), which installs tmosh there
 * (payload compressed once and then taken from the cache, and once with an
 * empty cache), of a later connect that finds it installed, and of stock
 * `mosh` (mosh-server installed by the system) in the same run, through the
 * private loopback sshd; and the upload's size. Needs root (the account).
 * @module
 */

import { startSshd } from "../harness/sshd.ts";
import { findBinary } from "../harness/require_peer.ts";
import { accountsUnavailable } from "../harness/shell_accounts.ts";
import { connectCommand } from "../harness/client_session.ts";
import {
  emptyHome,
  freshAccount,
  freshConnectLine,
} from "../harness/fresh_account.ts";
import { summary, timePrompt } from "./connect_bench.ts";

/** Runs per kind of connect. */
const RUNS = 3;

/** Sizes of the cached payloads in `cache` (compressed, and uncompressed from the .json beside each). */
async function payloadSizes(cache: string): Promise<string> {
  const parts: string[] = [];
  for await (const entry of Deno.readDir(`${cache}/tmosh`)) {
    if (!entry.name.endsWith(".gz")) continue;
    const gz = (await Deno.stat(`${cache}/tmosh/${entry.name}`)).size;
    const meta = JSON.parse(
      await Deno.readTextFile(
        `${cache}/tmosh/${entry.name.replace(/\.gz$/, ".json")}`,
      ),
    ) as { size: number };
    parts.push(
      `${entry.name.replace(/-[0-9a-f]+\.gz$/, "")}: ${
        (gz / 1e6).toFixed(1)
      } MB sent (gzip of ${(meta.size / 1e6).toFixed(1)} MB)`,
    );
  }
  return parts.join("; ");
}

/** Times install, later connect and stock mosh side by side, and prints the upload size. */
export async function benchInstall(): Promise<void> {
  for (const name of ["sshd", "ssh", "tmux", "mosh", "useradd", "gzip"]) {
    if (await findBinary(name) === null) {
      console.log(`install: skipped ('${name}' is not installed)`);
      return;
    }
  }
  const why = accountsUnavailable();
  if (why !== null) {
    console.log(`install: skipped (${why})`);
    return;
  }
  const account = await freshAccount();
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_bench_install_" });
  const cache = `${dir}/cache`;
  const env = { XDG_CACHE_HOME: cache };
  const time = async (extra: string[] = []) => {
    const mark = `bench-${crypto.randomUUID()}`;
    return await timePrompt(freshConnectLine(sshd, mark, extra), {
      mark,
      dir,
      env,
    });
  };
  try {
    const cold = await time();
    const first: number[] = [];
    const later: number[] = [];
    const stock: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      await emptyHome(account.home, account.uid);
      first.push(await time());
      later.push(await time());
      const { command, mark } = await connectCommand("stock-mosh", {
        sshd,
        dir,
      });
      stock.push(await timePrompt(command, { mark, dir }));
    }
    console.log(`connect to prompt, ${RUNS} runs each:`);
    const rows: [string, string][] = [
      ["stock mosh (mosh-server installed)", summary(stock)],
      ["tmosh connect, installs (payload cached)", summary(first)],
      ["tmosh connect, already installed", summary(later)],
      ["tmosh connect, installs (empty cache, 1 run)", summary([cold])],
    ];
    for (const [label, text] of rows) {
      console.log(`  ${label.padEnd(46)} ${text}`);
    }
    console.log(`upload: ${await payloadSizes(cache)}`);
  } finally {
    await sshd.stop();
    await emptyHome(account.home, account.uid);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await benchInstall();
}
