/**
 * Forwarding tests' helpers: a tmosh client with -L/-R/-D/-A given directly
 * (the session code of `tmosh connect` after its bootstrap, pointed at any
 * address, e.g. the impairment relay), run under tmux; a local HTTP server
 * with a seeded body; a download through a port with its sha256.
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  delay,
  roundTrip,
  shellCommand,
  shq,
  tmoshCommand,
} from "./client_session.ts";
import type { TmuxSession } from "./tmux.ts";
import type { Sshd } from "./sshd.ts";
import { xorshiftFill } from "./prng.ts";

const SESSION = fileURLToPath(new URL("../client/session.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const ARGS = fileURLToPath(
  new URL("../client/bootstrap/forward_args.ts", import.meta.url),
);

/**
 * Writes an entry script into `dir` and returns the sh command that runs a
 * client to `ip`:`port` (key in MOSH_KEY) with forwarding words such as
 * `["-L", "8080:127.0.0.1:80", "-A"]`.
 */
export async function forwardClientCommand(
  dir: string,
  target: { ip: string; port: number; words: string[] },
): Promise<string> {
  const entry = `${dir}/forward_client.ts`;
  await Deno.writeTextFile(
    entry,
    `import { runClient } from ${JSON.stringify(SESSION)};
import { parseForwards } from ${JSON.stringify(ARGS)};
const words = Deno.args.slice(2);
const L = [], R = [], D = [];
let A = false, W;
for (let i = 0; i < words.length; i++) {
  const w = words[i];
  if (w === "-A") A = true;
  else if (w === "-L") L.push(words[++i]);
  else if (w === "-R") R.push(words[++i]);
  else if (w === "-D") D.push(words[++i]);
  else if (w === "-W") W = words[++i];
}
const forward = parseForwards({ L, R, D, A, W });
if (typeof forward === "string") { console.error(forward); Deno.exit(2); }
Deno.exit(await runClient({
  ip: Deno.args[0], port: Number(Deno.args[1]), key: Deno.env.get("MOSH_KEY") ?? "",
  predict: "adaptive", predictOverwrite: false, init: true, titleNoPrefix: false,
  verbose: false, forward,
}));
`,
  );
  return `${shq(Deno.execPath())} run -A --quiet --config ${shq(CONFIG)} ${
    shq(entry)
  } ${[target.ip, String(target.port), ...target.words].map(shq).join(" ")}`;
}

/** A local HTTP server on 127.0.0.1 serving `size` seeded bytes at `/blob`. */
export interface BlobServer {
  port: number;
  /** sha256 of the body, hex. */
  sha256: string;
  size: number;
  stop(): Promise<void>;
}

/** Options of {@linkcode startBlobServer}. */
export interface BlobServerOptions {
  /** Seed of the body (default 13). */
  seed?: number;
  /** Opens the listening socket (default: here; e.g. inside a namespace, harness/lossy_tun.ts). */
  within?: <T>(open: () => T) => T;
}

/** Starts the blob server (the body is generated once, in memory). */
export async function startBlobServer(
  size: number,
  options: BlobServerOptions = {},
): Promise<BlobServer> {
  const body = new Uint8Array(size);
  xorshiftFill(options.seed ?? 13)(body);
  const sha256 = await hexDigest(body);
  const within = options.within ?? (<T>(open: () => T): T => open());
  const server = within(() =>
    Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/blob") return new Response(body);
      return new Response(`hello from ${path}\n`);
    })
  );
  return {
    port: server.addr.port,
    sha256,
    size,
    stop: () => server.shutdown(),
  };
}

/** sha256 of bytes, hex. */
export async function hexDigest(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs curl with `args` (a download to stdout piped through sha256sum); returns the hex digest and curl's status. */
export async function curlSha256(
  args: string[],
  timeoutMs: number,
): Promise<{ sha256: string; code: number; stderr: string }> {
  const cmd = new Deno.Command("bash", {
    args: [
      "-c",
      `set -o pipefail; curl -sS --max-time ${Math.ceil(timeoutMs / 1000)} ${
        args.map(shq).join(" ")
      } | sha256sum`,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  return {
    sha256: new TextDecoder().decode(out.stdout).split(/\s/)[0],
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr).trim(),
  };
}

/** Waits until a TCP port on 127.0.0.1 accepts connections. */
export async function waitListening(
  port: number,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(
    `tmosh: nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`,
  );
}

/** Options of {@linkcode connectForwardCommand}. */
export interface ConnectForwardOptions {
  /** The private sshd. */
  sshd: Sshd;
  /** Scratch directory (server wrapper script). */
  dir: string;
  /** Forwarding words (`-L`, `SPEC`, `-A`, ...). */
  words: string[];
  /** "tmosh" (default) or stock "mosh-server". */
  server?: "tmosh" | "stock";
  /** Environment of the tmosh server (e.g. TMOSH_SSHD_CONFIG). */
  serverEnv?: Record<string, string>;
  /** The remote command (default: the test shell); none for -W. */
  command?: string[];
  /** XDG_STATE_HOME of the server, shared by connects that attach to each other's sessions (default: one of the mark's own, so a daemon of its own). */
  state?: string;
}

/** The sh command line of `tmosh connect WORDS` to root@127.0.0.1 through the private sshd, and the mark of its server. */
export async function connectForwardCommand(
  options: ConnectForwardOptions,
): Promise<{ command: string; mark: string }> {
  const mark = `fwd-${crypto.randomUUID()}`;
  const ssh = options.sshd.markedSsh(mark, options.state);
  let server = "mosh-server";
  if (options.server !== "stock") {
    server = `${options.dir}/tmosh-serve-fwd`;
    const env = Object.entries(options.serverEnv ?? {}).map(([k, v]) =>
      `${k}=${shq(v)}`
    ).join(" ");
    await Deno.writeTextFile(
      server,
      `#!/bin/sh\nexec env ${env} ${tmoshCommand("serve")} "$@"\n`,
    );
    await Deno.chmod(server, 0o755);
  }
  const command = options.command ?? shellCommand();
  const tail = command.length > 0 ? ` -- ${command.map(shq).join(" ")}` : "";
  return {
    command: `${tmoshCommand("connect")} --server=${shq(server)} --ssh=${
      shq(ssh)
    } ${options.words.map(shq).join(" ")} root@127.0.0.1${tail}`,
    mark,
  };
}

/** Median of the echo round trip (type a command, see its output) over `rounds` commands `gapMs` apart, ms. */
export async function echoLatency(
  tmux: TmuxSession,
  options: { rounds: number; gapMs: number },
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < options.rounds; i++) {
    const n = 1000 + Math.floor(Math.random() * 9000);
    const t0 = performance.now();
    await roundTrip(tmux, `echo k$((${n}+1))`, { expect: `k${n + 1}` });
    times.push(performance.now() - t0);
    await delay(options.gapMs);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
