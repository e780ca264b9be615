/**
 * `tmosh connect` bootstrapping stock mosh-server: locally (--local) and over
 * the private sshd (proxy, remote and local address modes, and failures).
 * @module
 */

import assert from "node:assert/strict";
import {
  bootstrap,
  type BootstrapOptions,
  connectMain,
} from "../../client/bootstrap/connect.ts";
import type { ClientOptions } from "../../client/client_args.ts";
import { decodeKey } from "../../protocol/crypto/key.ts";
import {
  options,
  rejection,
  selfEntry,
} from "../../harness/connect_helpers.ts";
import { peers } from "../../harness/require_peer.ts";
import { assertUdpPortTaken } from "../../harness/ports.ts";
import {
  accountPeers,
  ensureShellAccount,
  LOGIN_SHELLS,
  TRICKY_WORDS,
} from "../../harness/shell_accounts.ts";
import { startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { findPidsWithEnv, killPidsWithEnv } from "../../harness/stock_mosh.ts";

const stockServer = peers("mosh-server");
const stockServerOverSsh = peers("sshd", "ssh", "mosh-server");

stockServer.test("bootstrap --local with stock mosh-server", async () => {
  const mark = `connect-${crypto.randomUUID()}`;
  try {
    const endpoint = await bootstrap(
      options([
        "--local",
        "--server=mosh-server",
        "127.0.0.1",
        "--",
        "/bin/sh",
      ]),
      { env: { [TEST_MARK_VAR]: mark, LANG: "C.UTF-8" }, echo: () => {} },
    );
    assert.equal(endpoint.ip, "127.0.0.1");
    assert.equal(decodeKey(endpoint.key).length, 16);
    assertUdpPortTaken(endpoint.port, "127.0.0.1");
    assert.ok((await findPidsWithEnv(TEST_MARK_VAR, mark)).length > 0);
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
});

stockServerOverSsh.test("bootstrap over ssh: proxy, remote and local address modes, and failures", async (t) => {
  const sshd = await startSshd();
  const dir = await Deno.makeTempDir({ prefix: "tmosh_connect_" });
  const mark = `connect-${crypto.randomUUID()}`;
  const self = await selfEntry(dir);
  const lines: string[] = [];
  const extra: BootstrapOptions = {
    selfCommand: self,
    env: { [TEST_MARK_VAR]: mark, LANG: "C.UTF-8" },
    echo: (line) => lines.push(line),
  };
  const ssh = `--ssh=${sshd.sshCommand}`;
  try {
    for (const mode of ["proxy", "remote", "local"]) {
      await t.step(`--experimental-remote-ip=${mode}`, async () => {
        lines.length = 0;
        const endpoint = await bootstrap(
          options([
            ssh,
            "--server=mosh-server",
            `--experimental-remote-ip=${mode}`,
            "localhost",
            "--",
            "/bin/sh",
          ]),
          extra,
        );
        // localhost is resolved by the fake proxy (proxy), by us (local) or
        // read from the server's SSH_CONNECTION (remote, with a warning).
        assert.equal(endpoint.ip, "127.0.0.1");
        assert.equal(decodeKey(endpoint.key).length, 16);
        assertUdpPortTaken(endpoint.port, "127.0.0.1");
        const warned = lines.some((l) =>
          l.includes("using remote IP address 127.0.0.1 from $SSH_CONNECTION")
        );
        assert.equal(warned, mode === "remote", lines.join("\n"));
        assert.ok(!lines.some((l) => l.startsWith("MOSH ")), lines.join("\n"));
        assert.ok((await findPidsWithEnv(TEST_MARK_VAR, mark)).length > 0);
        await killPidsWithEnv(TEST_MARK_VAR, mark);
      });
    }

    await t.step("server command missing on the host: exit 127", async () => {
      lines.length = 0;
      const message = await rejection(() =>
        bootstrap(
          options([ssh, "--server=/nonexistent/tmosh", "root@localhost"]),
          extra,
        )
      );
      assert.equal(
        message,
        "tmosh: '/nonexistent/tmosh' was not found on localhost (exit 127); " +
          "copy the tmosh binary there or pass --server=PATH",
      );
      assert.ok(
        lines.some((l) => l.includes("/nonexistent/tmosh")),
        "shell's complaint is echoed",
      );
    });

    await t.step("ssh itself fails", async () => {
      const message = await rejection(() =>
        bootstrap(
          options([
            "--ssh=ssh -F /nonexistent/ssh_config",
            "--server=mosh-server",
            "localhost",
          ]),
          extra,
        )
      );
      assert.equal(message, "tmosh: ssh exited with status 255");
      assert.match(
        await rejection(() =>
          bootstrap(options(["--ssh=/nonexistent/ssh", "localhost"]), extra)
        ),
        /cannot run ssh command '\/nonexistent\/ssh': not found/,
      );
    });

    await t.step(
      "connectMain hands the endpoint and options to runClient",
      async () => {
        const saved = {
          mark: Deno.env.get(TEST_MARK_VAR),
          lang: Deno.env.get("LANG"),
        };
        Deno.env.set(TEST_MARK_VAR, mark);
        Deno.env.set("LANG", "C.UTF-8");
        let seen: ClientOptions | null = null;
        try {
          const status = await connectMain([
            ssh,
            "--server=mosh-server",
            "--experimental-remote-ip=local",
            "-o",
            "--no-init",
            "-n",
            "localhost",
          ], {
            runClient(client) {
              seen = client;
              return Promise.resolve(5);
            },
          });
          assert.equal(status, 5);
          assert.equal(seen!.ip, "127.0.0.1");
          assert.equal(seen!.predict, "never");
          assert.equal(seen!.predictOverwrite, true);
          assert.equal(seen!.init, false);
          assertUdpPortTaken(seen!.port, "127.0.0.1");
          assert.equal(
            await connectMain(["--predict=bogus", "h"], {
              runClient: () => Promise.reject(new Error("must not run")),
            }),
            2,
          );
        } finally {
          for (
            const [name, value] of [[TEST_MARK_VAR, saved.mark], [
              "LANG",
              saved.lang,
            ]]
          ) {
            if (value === undefined) Deno.env.delete(name!);
            else Deno.env.set(name!, value);
          }
          await killPidsWithEnv(TEST_MARK_VAR, mark);
        }
      },
    );
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
    await sshd.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

accountPeers("mosh-server").test(
  "bootstrap over ssh: stock mosh-server gets the command words exactly, whatever the login shell",
  async (t) => {
    const sshd = await startSshd();
    const mark = `connect-shells-${crypto.randomUUID()}`;
    // LANGUAGE: passed with -l only (ssh does not send it; mosh-server ignores it).
    const weird = `en'"\\$HOME; x y\n'\\''`;
    try {
      for (const shell of LOGIN_SHELLS) {
        const user = await ensureShellAccount(shell);
        await t.step(shell, async () => {
          const opts = options([
            `--ssh=${sshd.sshCommand}`,
            "--server=mosh-server",
            `${user}@localhost`,
            "--",
            ...TRICKY_WORDS,
          ]);
          const env = {
            [TEST_MARK_VAR]: mark,
            LANG: "C.UTF-8",
            LANGUAGE: weird,
          };
          await bootstrap(opts, { env, echo: () => {} });
          // The detached server's own argv, as the login shell passed it.
          const servers: string[][] = [];
          for (const pid of await findPidsWithEnv(TEST_MARK_VAR, mark)) {
            const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)
              .catch(() => "")).split("\0").slice(0, -1);
            if (argv[0] === "mosh-server") servers.push(argv);
          }
          // (Its child, forked to run the command, may still share that argv.)
          assert.ok(servers.length > 0, "mosh-server is running");
          for (const argv of servers) {
            assert.ok(argv.includes(`LANGUAGE=${weird}`), JSON.stringify(argv));
            assert.deepEqual(argv.slice(argv.indexOf("--") + 1), TRICKY_WORDS);
          }
          await killPidsWithEnv(TEST_MARK_VAR, mark);
        });
      }
    } finally {
      await killPidsWithEnv(TEST_MARK_VAR, mark);
      await sshd.stop();
    }
  },
);
