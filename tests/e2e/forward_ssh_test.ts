/**
 * Forwarding through a real `tmosh connect` over the private sshd
 * (docs/wire.md §17): -R, -D (curl through SOCKS5 and SOCKS4a, names
 * resolved on the server), -L to a Unix socket and -A (ssh-add -l on the
 * server lists the client's key, and a remote ssh to the test sshd
 * authenticates with it) in one session under tmux; -W as ssh's
 * ProxyCommand; and the refusals: a port in use, the sshd policy off, a
 * refused target, a stock mosh-server.
 * @module
 */

import assert from "node:assert/strict";
import { peers } from "../../harness/require_peer.ts";
import { startSshd } from "../../harness/sshd.ts";
import { startTmux } from "../../harness/tmux.ts";
import {
  clearScreen,
  roundTrip,
  waitPrompt,
} from "../../harness/client_session.ts";
import {
  descendants,
  findPidsWithEnv,
  killPidsWithEnv,
} from "../../harness/stock_mosh.ts";
import { USER_DAEMON_FLAG } from "../../server/daemon_protocol.ts";
import { TEST_MARK_VAR } from "../../harness/sshd.ts";
import { freeTcpPort } from "../../harness/ports.ts";
import {
  connectForwardCommand,
  startBlobServer,
  waitListening,
} from "../../harness/forward_client.ts";

const needs = peers("sshd", "ssh", "tmux", "curl", "ssh-agent", "ssh-add");
const needsStock = peers("sshd", "ssh", "mosh-server");

/**
 * The program names (comm) of the sessions' programs of the tmosh server
 * carrying TEST_MARK_VAR=`mark`: its daemon's descendants (the client's ssh,
 * and what ssh runs on the target, carry the mark too).
 */
async function sessionPrograms(mark: string): Promise<string[]> {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return ""; // gone meanwhile
    }
  };
  const pids = await findPidsWithEnv(TEST_MARK_VAR, mark);
  const daemon = pids.find((pid) =>
    read(`/proc/${pid}/cmdline`).includes(USER_DAEMON_FLAG)
  );
  if (daemon === undefined) return [];
  return (await descendants(daemon)).map((pid) =>
    read(`/proc/${pid}/comm`).trim()
  );
}

/** Runs an sh command line; its status and output. */
async function sh(
  command: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", command],
    env,
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

needs.test("-R, -D, -L to and from Unix sockets and -A in one tmosh connect session", async () => {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_ssh_" });
  const blob = await startBlobServer(1 << 20);
  const sockPath = `${dir}/web.sock`;
  const unixServer = Deno.serve(
    { path: sockPath, onListen: () => {} },
    () => new Response("hello over a unix socket\n"),
  );
  const agentSock = `${dir}/agent.sock`;
  const agent = await sh(`ssh-agent -a ${agentSock}`);
  const agentPid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
  const [rPort, dPort, lPort] = [
    await freeTcpPort(),
    await freeTcpPort(),
    await freeTcpPort(),
  ];
  const { command, mark } = await connectForwardCommand({
    sshd,
    dir,
    words: [
      "-R",
      `${rPort}:127.0.0.1:${blob.port}`,
      "-D",
      `${dPort}`,
      "-L",
      `${lPort}:${sockPath}`,
      "-L",
      `${dir}/local.sock:127.0.0.1:${blob.port}`,
      "-A",
    ],
  });
  const tmux = await startTmux(command, {
    env: {
      TERM: "xterm-256color",
      LANG: "C.UTF-8",
      SSH_AUTH_SOCK: agentSock,
    },
  });
  try {
    const added = await sh(`ssh-add ${sshd.keyPath}`, {
      SSH_AUTH_SOCK: agentSock,
    });
    assert.equal(added.code, 0, added.stderr);
    await waitPrompt(tmux);
    // -R: the server listens on loopback (GatewayPorts no) and connections come here.
    await waitListening(rPort);
    const r = await sh(`curl -sS http://127.0.0.1:${rPort}/r-test`);
    assert.equal(r.stdout, "hello from /r-test\n", r.stderr);
    const listening = await sh(`ss -ltnH 'sport = :${rPort}'`);
    assert.match(listening.stdout, /127\.0\.0\.1:/);
    // -D: SOCKS5 with the name resolved on the server, and SOCKS4a.
    const d5 = await sh(
      `curl -sS --socks5-hostname 127.0.0.1:${dPort} http://localhost:${blob.port}/socks5`,
    );
    assert.equal(d5.stdout, "hello from /socks5\n", d5.stderr);
    const d4 = await sh(
      `curl -sS --socks4a 127.0.0.1:${dPort} http://localhost:${blob.port}/socks4`,
    );
    assert.equal(d4.stdout, "hello from /socks4\n", d4.stderr);
    // -D to a closed port: the SOCKS client gets a failure, not a hang.
    const closed = await freeTcpPort();
    const dFail = await sh(
      `curl -sS --max-time 10 --socks5-hostname 127.0.0.1:${dPort} http://127.0.0.1:${closed}/`,
    );
    assert.notEqual(dFail.code, 0);
    assert.doesNotMatch(dFail.stderr, /timed out/i);
    // -L to a Unix socket on the server.
    const l = await sh(`curl -sS http://127.0.0.1:${lPort}/`);
    assert.equal(l.stdout, "hello over a unix socket\n", l.stderr);
    // -L from a local Unix socket.
    const lu = await sh(
      `curl -sS --unix-socket ${dir}/local.sock http://localhost/from-unix`,
    );
    assert.equal(lu.stdout, "hello from /from-unix\n", lu.stderr);
    // -A: the agent's key is listed on the server and authenticates an ssh from there.
    const fingerprint = (await sh(`ssh-keygen -lf ${sshd.keyPath}.pub`))
      .stdout.split(" ")[1];
    await clearScreen(tmux);
    await roundTrip(
      tmux,
      `ssh-add -l | grep -c '${fingerprint}' | sed 's/^/keys-/'`,
      { expect: "keys-1", timeoutMs: 20_000 },
    );
    await roundTrip(
      tmux,
      `ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p ${sshd.port} root@127.0.0.1 'echo agent-auth-$((40+2))'`,
      { expect: "agent-auth-42", timeoutMs: 30_000 },
    );
    await clearScreen(tmux);
    await roundTrip(
      tmux,
      'case "$SSH_AUTH_SOCK" in /tmp/tmosh-agent-*/agent.*) echo sock-ok;; esac',
      { expect: "sock-ok" },
    );
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    if (agentPid !== undefined) Deno.kill(Number(agentPid), "SIGTERM");
    await unixServer.shutdown();
    await blob.stop();
    await sshd.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

needs.test("-W as ssh's ProxyCommand; refusals: port in use, policy off, target refused", async () => {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_w_" });
  const marks: string[] = [];
  try {
    // -W: ssh runs through the session.
    const proxy = await connectForwardCommand({
      sshd,
      dir,
      words: ["-W", "%h:%p"],
      command: [],
    });
    marks.push(proxy.mark);
    const running = sh(
      `ssh -F ${sshd.configPath} -o ProxyCommand=${
        shellWord(
          proxy.command.replaceAll("%", "%%").replace("%%h:%%p", "%h:%p"),
        )
      } root@127.0.0.1 'sleep 3; echo proxied-$((6*7))'`,
    );
    // The session on the server runs no login shell, only a waiting program.
    // Looked at until it shows, while ssh runs (connecting takes seconds
    // on a loaded machine; the remote command then keeps it up 3 s).
    let programs: string[] = [], finished = false;
    running.finally(() => finished = true);
    while (!finished && !programs.includes("cat")) {
      await new Promise((r) => setTimeout(r, 50));
      programs = await sessionPrograms(proxy.mark);
    }
    // ssh ends first either way: a failed check leaves nothing running.
    const viaW = await running;
    assert.equal(viaW.stdout, "proxied-42\n", viaW.stderr);
    assert.deepEqual(programs, ["cat"], "the session runs cat alone");
    // A port in use: refused at once, before ssh runs.
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (taken.addr as Deno.NetAddr).port;
    const busy = await connectForwardCommand({
      sshd,
      dir,
      words: ["-L", `${port}:127.0.0.1:80`],
    });
    marks.push(busy.mark);
    const t0 = performance.now();
    const inUse = await sh(busy.command);
    taken.close();
    assert.equal(inUse.code, 1);
    assert.equal(
      inUse.stderr,
      `tmosh: -L ${port}:127.0.0.1:80: cannot listen on localhost:${port}: Address already in use; choose another port\n`,
    );
    assert.ok(performance.now() - t0 < 5000, "refused before ssh ran");
    // The host's sshd forbids TCP forwarding: -W says so.
    const policyFile = `${dir}/sshd_config`;
    await Deno.writeTextFile(policyFile, "AllowTcpForwarding no\n");
    const off = await connectForwardCommand({
      sshd,
      dir,
      words: ["-W", `127.0.0.1:${sshd.port}`],
      serverEnv: { TMOSH_SSHD_CONFIG: policyFile },
      command: [],
    });
    marks.push(off.mark);
    const policy = await sh(off.command);
    assert.equal(policy.code, 1);
    assert.equal(
      policy.stderr,
      `tmosh: -W 127.0.0.1:${sshd.port}: refused by policy: AllowTcpForwarding no in ${policyFile}\n`,
    );
    // A target nobody listens on.
    const closed = await freeTcpPort();
    const refused = await connectForwardCommand({
      sshd,
      dir,
      words: ["-W", `127.0.0.1:${closed}`],
      command: [],
    });
    marks.push(refused.mark);
    const r = await sh(refused.command);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `tmosh: -W 127.0.0.1:${closed}: connect to 127.0.0.1:${closed}: Connection refused\n`,
    );
  } finally {
    for (const m of marks) await killPidsWithEnv(TEST_MARK_VAR, m);
    await sshd.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

needsStock.test("-W against stock mosh-server: refused with a clear message", async () => {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_stock_" });
  const { command, mark } = await connectForwardCommand({
    sshd,
    dir,
    words: ["-W", `127.0.0.1:${sshd.port}`],
    server: "stock",
    command: [],
  });
  try {
    const out = await sh(command);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr,
      "tmosh: -W refused: the server does not speak chan.v1 (stock mosh-server or an older tmosh); nothing was forwarded; install tmosh serve on the host\n",
    );
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Quotes one word for sh. */
function shellWord(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

needs.test("-A across a reattach: SSH_AUTH_SOCK stays, backed by the new client; without -A it fails at once", async () => {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_fwd_attach_" });
  const agentSock = `${dir}/agent.sock`;
  const agent = await sh(`ssh-agent -a ${agentSock}`);
  const agentPid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
  const name = `fwd${Math.floor(Math.random() * 1e6)}`;
  const state = `${dir}/state`; // one registry (one daemon) for the three connects
  const env = {
    TERM: "xterm-256color",
    LANG: "C.UTF-8",
    SSH_AUTH_SOCK: agentSock,
  };
  const first = await connectForwardCommand({
    sshd,
    dir,
    words: ["-A", `--name=${name}`],
    state,
  });
  const tmuxes = [await startTmux(first.command, { env })];
  try {
    assert.equal((await sh(`ssh-add ${sshd.keyPath}`, env)).code, 0);
    await waitPrompt(tmuxes[0]);
    const sockFile = `${dir}/sock-path`;
    await roundTrip(
      tmuxes[0],
      `echo "$SSH_AUTH_SOCK" > ${sockFile}; echo saved`,
      {
        expect: "saved",
      },
    );
    const before = await Deno.readTextFile(sockFile);
    assert.match(before, /^\/tmp\/tmosh-agent-[^/]+\/agent\.\d+\n$/);
    // Another client attaches, with -A: the same socket now reaches its agent.
    const second = await connectForwardCommand({
      sshd,
      dir,
      words: ["-A", `--attach=${name}`],
      command: [],
      state,
    });
    tmuxes.push(await startTmux(second.command, { env }));
    await tmuxes[1].waitFor((s) => s.includes("e2e$"), 30_000);
    await clearScreen(tmuxes[1]);
    await roundTrip(
      tmuxes[1],
      `[ "$SSH_AUTH_SOCK" = "$(cat ${sockFile})" ] && ssh-add -l >/dev/null && echo agent-still-$((1+1))`,
      { expect: "agent-still-2", timeoutMs: 20_000 },
    );
    // A third client without -A: the socket fails at once, not after a timeout.
    const third = await connectForwardCommand({
      sshd,
      dir,
      words: [`--attach=${name}`],
      command: [],
      state,
    });
    tmuxes.push(await startTmux(third.command, { env }));
    await tmuxes[2].waitFor((s) => s.includes("e2e$"), 30_000);
    await clearScreen(tmuxes[2]);
    await roundTrip(
      tmuxes[2],
      "s=$(date +%s); ssh-add -l >/dev/null 2>&1; r=$?; [ $r -ne 0 ] && [ $(( $(date +%s) - s )) -le 1 ] && echo fail-fast",
      { expect: "fail-fast", timeoutMs: 20_000 },
    );
  } finally {
    for (const t of tmuxes) await t.kill();
    await killPidsWithEnv(TEST_MARK_VAR, first.mark);
    if (agentPid !== undefined) Deno.kill(Number(agentPid), "SIGTERM");
    await sshd.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
