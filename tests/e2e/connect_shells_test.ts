/**
 * The remote command of `tmosh connect` survives every login shell: ssh hands
 * it to the account's shell as `$SHELL -c '...'`, so each `-- command` word
 * and locale value must come out of bash, dash, zsh and fish as exactly that
 * word. Real accounts (harness/shell_accounts.ts) log in through the private
 * sshd; the server command is a script that reports its argv in hex.
 * @module
 */

import assert from "node:assert/strict";
import {
  bootstrap,
  serverArgs,
  shellQuote,
} from "../../client/bootstrap/connect.ts";
import { countColors } from "../../client/client_args.ts";
import { options, selfEntry } from "../../harness/connect_helpers.ts";
import { peers } from "../../harness/require_peer.ts";
import {
  accountPeers,
  ensureShellAccount,
  LOGIN_SHELLS,
  TRICKY_WORDS,
} from "../../harness/shell_accounts.ts";
import { startSshd } from "../../harness/sshd.ts";

/** A locale value with quotes, backslashes, `$`, `;`, spaces and a newline. */
const LOCALE = `C.UTF-8'"\\$HOME; x y\n'\\''`;

/** Prints each argument as `ARG:<hex>:`, then a MOSH CONNECT line. */
const RECORDER = `#!/bin/sh
for a in "$@"; do
  printf 'ARG:%s:\\n' "$(printf '%s' "$a" | od -An -v -tx1 | tr -d ' \\n')"
done
echo 'MOSH CONNECT 60001 HN2E5agmH1pJ5ZuhNRV0CA'
`;

/** Decodes the `ARG:<hex>:` lines the recorder printed. */
function recordedArgs(lines: string[]): string[] {
  return lines.flatMap((line) => {
    const m = /^ARG:([0-9a-f]*):$/.exec(line);
    if (m === null) return [];
    const bytes = Uint8Array.from(
      m[1].match(/../g) ?? [],
      (h) => parseInt(h, 16),
    );
    return [new TextDecoder().decode(bytes)];
  });
}

const shells = peers("bash", "dash", "zsh", "fish");
const accounts = accountPeers();

shells.test("shellQuote: every tricky word reads back the same in bash, dash, zsh and fish", async () => {
  const words = [...TRICKY_WORDS, LOCALE];
  for (let c = 1; c < 128; c++) {
    const ch = String.fromCharCode(c);
    words.push(ch, `a${ch}b`, ch + ch);
  }
  const command = `printf '%s\\0' ${shellQuote(words)}`;
  for (const shell of LOGIN_SHELLS) {
    for (const prefix of shell === "zsh" ? ["", "setopt RC_QUOTES\n"] : [""]) {
      const out = await new Deno.Command(shell, {
        args: ["-c", `${prefix}command ${command}`],
        stdin: "null",
        env: { LANG: "C.UTF-8" },
      }).output();
      const got = new TextDecoder().decode(out.stdout).split("\0");
      assert.deepEqual(got, [...words, ""], `${shell} ${prefix}`);
    }
  }
});

accounts.test(
  "bootstrap over ssh: command words and locale arrive exactly, whatever the login shell",
  async (t) => {
    const sshd = await startSshd();
    const dir = await Deno.makeTempDir({ prefix: "tmosh_shells_" });
    try {
      // The accounts run the recorder from here.
      await Deno.chmod(dir, 0o755);
      const recorder = `${dir}/record`;
      await Deno.writeTextFile(recorder, RECORDER, { mode: 0o755 });
      await Deno.chmod(recorder, 0o755);
      const self = await selfEntry(dir);
      const env = { LANG: LOCALE, TERM: "xterm-256color" };
      const merged = { ...Deno.env.toObject(), ...env };
      const colors = await countColors(merged.TERM);
      for (const shell of LOGIN_SHELLS) {
        const user = await ensureShellAccount(shell);
        for (const mode of ["proxy", "remote"]) {
          await t.step(
            `${shell}, --experimental-remote-ip=${mode}`,
            async () => {
              const lines: string[] = [];
              const opts = options([
                `--ssh=${sshd.sshCommand}`,
                `--server=${recorder}`,
                `--experimental-remote-ip=${mode}`,
                `${user}@localhost`,
                "--",
                ...TRICKY_WORDS,
              ]);
              const endpoint = await bootstrap(opts, {
                selfCommand: self,
                env,
                echo: (line) => lines.push(line),
              });
              assert.equal(endpoint.ip, "127.0.0.1");
              assert.deepEqual(
                recordedArgs(lines),
                serverArgs(opts, { colors, env: merged }),
                lines.join("\n"),
              );
            },
          );
        }
      }
    } finally {
      await sshd.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
