/**
 * Port forwarding on a lossy, slow path, measured for both: `ssh -L` and
 * `tmosh -L` through the same two network namespaces joined by a TUN pair
 * that drops LOSS of the packets and delays each by DELAY_MS one way
 * (harness/lossy_tun.ts; every IP packet, so ssh's TCP sees the loss and
 * the round trip). The server side runs sshd, `tmosh serve` and an HTTP
 * server; curl downloads through the forwarded port on the client side.
 * ssh runs with the kernel's default congestion control (BBR on the machines
 * seen here) and with Reno, the loss-based classic.
 *
 * `deno run -A bench/forward_loss_bench.ts` (root: namespaces)
 * @module
 */

import { createLossyLink, type LossyLink } from "../harness/lossy_tun.ts";
import { netnsUnavailable } from "../harness/netns.ts";
import { startSshd } from "../harness/sshd.ts";
import { startTmux } from "../harness/tmux.ts";
import { shellCommand, shq, waitPrompt } from "../harness/client_session.ts";
import {
  forwardClientCommand,
  startBlobServer,
} from "../harness/forward_client.ts";
import { findBinary } from "../harness/require_peer.ts";
import { killPidsWithEnv } from "../harness/stock_mosh.ts";
import { TEST_MARK_VAR } from "../harness/sshd.ts";

/** Loss and one-way delay of the path. */
const LOSS = 0.01, DELAY_MS = 50;
/** Body downloaded, bytes. */
const BYTES = 20 << 20;
/** Longest a download may take, s (Reno at 1% loss and 100 ms is slow). */
const MAX_S = 60;
/** Ports on the path's addresses (each namespace is private). */
const SSH_PORT = 22, MOSH_PORT = 60001, LOCAL_PORT = 18080;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A command for `argv` (its program first), stdin closed. */
function command(
  argv: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
): Deno.Command {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    ...options,
  });
}

/** Runs `argv`; returns stdout; throws with stderr on failure. */
async function run(argv: string[]): Promise<string> {
  const out = await command(argv, { stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `tmosh bench: ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Waits until 127.0.0.1:`port` on the client side accepts connections. */
async function waitListening(link: LossyLink, port: number): Promise<void> {
  const probe = command(
    link.exec(link.ns.a, [
      "bash",
      "-c",
      `exec 3<>/dev/tcp/127.0.0.1/${port}`,
    ]),
    { stdout: "null", stderr: "null" },
  );
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await probe.output()).success) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`tmosh bench: nothing listens on ${port} in ${link.ns.a}`);
}

/** Downloads through 127.0.0.1:LOCAL_PORT on the client side; MB/s (curl prints the rate even when --max-time cuts it short). */
async function download(link: LossyLink): Promise<number> {
  const out = await command(
    link.exec(link.ns.a, [
      "curl",
      "-sS",
      "--max-time",
      `${MAX_S}`,
      "-o",
      "/dev/null",
      "-w",
      "%{speed_download}",
      `http://127.0.0.1:${LOCAL_PORT}/blob`,
    ]),
    { stdout: "piped", stderr: "piped" },
  ).output();
  return Number(new TextDecoder().decode(out.stdout)) / 1e6;
}

/** `ssh -N -L` from the client side with congestion control `cc` (null: the default) on the server side; MB/s. */
async function sshRate(
  link: LossyLink,
  blobPort: number,
  cc: string | null,
): Promise<number> {
  if (cc !== null) {
    await run(link.exec(link.ns.b, [
      "sysctl",
      "-qw",
      `net.ipv4.tcp_congestion_control=${cc}`,
    ]));
  }
  const sshd = await startSshd({
    netns: link.ns.b,
    listen: link.addr.b,
    port: SSH_PORT,
  });
  const ssh = command(
    link.exec(link.ns.a, [
      "ssh",
      "-F",
      sshd.configPath,
      "-p",
      `${SSH_PORT}`,
      "-N",
      "-o",
      "ExitOnForwardFailure=yes",
      "-L",
      `${LOCAL_PORT}:127.0.0.1:${blobPort}`,
      `root@${link.addr.b}`,
    ]),
    { stdout: "null", stderr: "null" },
  ).spawn();
  try {
    await waitListening(link, LOCAL_PORT);
    return await download(link);
  } finally {
    ssh.kill("SIGTERM");
    await ssh.status;
    await sshd.stop();
  }
}

/** `tmosh serve` on the server side, the client with -L under tmux on the client side; MB/s. */
async function tmoshRate(link: LossyLink, blobPort: number): Promise<number> {
  const mark = `tmosh-${crypto.randomUUID()}`;
  const state = await Deno.makeTempDir({ prefix: "tmosh_loss_state_" });
  const dir = await Deno.makeTempDir({ prefix: "tmosh_loss_bench_" });
  try {
    const out = await command(
      link.exec(link.ns.b, [
        Deno.execPath(),
        "run",
        "-A",
        "--quiet",
        MAIN,
        "serve",
        "new",
        "-i",
        link.addr.b,
        "-p",
        `${MOSH_PORT}`,
        "--",
        ...shellCommand(),
      ]),
      {
        env: { LANG: "C.UTF-8", XDG_STATE_HOME: state, [TEST_MARK_VAR]: mark },
        stdout: "piped",
        stderr: "piped",
      },
    ).output();
    const connect = /^MOSH CONNECT (\d+) (\S{22})\s*$/m.exec(
      new TextDecoder().decode(out.stdout),
    );
    if (connect === null) {
      throw new Error(
        `tmosh bench: tmosh serve failed: ${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    const clientCommand = await forwardClientCommand(dir, {
      ip: link.addr.b,
      port: Number(connect[1]),
      words: ["-L", `${LOCAL_PORT}:127.0.0.1:${blobPort}`],
    });
    const tmux = await startTmux(
      `exec ${link.exec(link.ns.a, []).map(shq).join(" ")} ${clientCommand}`,
      {
        env: {
          TERM: "xterm-256color",
          LANG: "C.UTF-8",
          MOSH_KEY: connect[2],
          [TEST_MARK_VAR]: mark,
        },
      },
    );
    try {
      await waitPrompt(tmux);
      await waitListening(link, LOCAL_PORT);
      return await download(link);
    } finally {
      await tmux.kill();
    }
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await Deno.remove(state, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs the comparison and prints the figures. */
export async function benchForwardLoss(): Promise<void> {
  const why = netnsUnavailable();
  if (why !== null) {
    console.log(`skipped: ${why}`);
    return;
  }
  for (const tool of ["ssh", "sshd", "curl", "tmux", "ip"]) {
    if (await findBinary(tool) === null) {
      console.log(`skipped: ${tool} is not installed`);
      return;
    }
  }
  const link = await createLossyLink({ loss: LOSS, delayMs: DELAY_MS }, {
    seed: 11,
  });
  try {
    const blob = await startBlobServer(BYTES, {
      within: (open) => link.within(link.ns.b, open),
    });
    try {
      const defaultCc = (await run(link.exec(link.ns.b, [
        "sysctl",
        "-n",
        "net.ipv4.tcp_congestion_control",
      ]))).trim();
      const tmosh = await tmoshRate(link, blob.port);
      const sshDefault = await sshRate(link, blob.port, null);
      const sshReno = await sshRate(link, blob.port, "reno");
      const mb = (n: number) => `${n.toFixed(2)} MB/s`;
      console.log(
        `-L download of ${BYTES >> 20} MB, ${
          LOSS * 100
        }% loss and ${DELAY_MS} ms each way (TUN pair, measured for both):`,
      );
      console.log(
        `  ssh -L (TCP ${defaultCc}, the default)  ${mb(sshDefault)}`,
      );
      console.log(`  ssh -L (TCP reno)                ${mb(sshReno)}`);
      console.log(
        `  tmosh -L                         ${mb(tmosh)}  (${
          (tmosh / sshDefault).toFixed(2)
        }x ssh ${defaultCc}, ${(tmosh / sshReno).toFixed(1)}x ssh reno)`,
      );
      const { passed, dropped } = link.stats();
      console.log(`  path: ${passed} packets passed, ${dropped} dropped`);
    } finally {
      await blob.stop();
    }
  } finally {
    await link.remove();
  }
}

if (import.meta.main) await benchForwardLoss();
