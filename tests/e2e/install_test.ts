/**
 * `tmosh connect` installs tmosh on a host that has none (issue 15,
 * docs/architecture.md §9): through the private sshd, as a bare account
 * (harness/fresh_account.ts: empty home, no tmosh on its PATH), from this
 * source tree, so what is installed is the self-contained form (the Deno
 * runtime, the bundle, the launcher), and the server that then runs is that
 * runtime, not /usr/bin/deno. The sessions run in tmux as real terminals.
 * @module
 */

import assert from "node:assert/strict";
import {
  lines,
  PS1,
  roundTrip,
  shq,
  tmoshCommand,
  typeLine,
} from "../../harness/client_session.ts";
import {
  emptyHome,
  type FreshAccount,
  freshAccount,
  freshConnectLine,
} from "../../harness/fresh_account.ts";
import { accountPeers } from "../../harness/shell_accounts.ts";
import { findPidsWithEnv, killPidsWithEnv } from "../../harness/stock_mosh.ts";
import { type Sshd, startSshd, TEST_MARK_VAR } from "../../harness/sshd.ts";
import { startTmux } from "../../harness/tmux.ts";
import { TMOSH_VERSION } from "../../version.ts";

const tests = accountPeers("tmux", "gzip", "tar", "sha256sum", "mount");

/** The payload cache of these tests (compressed once, shared by them), removed at the end. */
const CACHE = Deno.makeTempDirSync({ prefix: "tmosh_install_cache_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(CACHE, { recursive: true });
});

/** Longest wait for a connect that installs (bundle, compress, upload), ms. */
const INSTALL_MS = 120_000;

/**
 * A session in tmux: prompt, an echo round trip, the server's executable,
 * exit. Returns every line the terminal showed before the prompt (polled
 * every 50 ms: what tmosh said while it installed), that executable, and the
 * time to the prompt.
 */
async function session(
  sshd: Sshd,
  extra: string[] = [],
): Promise<{ said: string[]; serverExe: string; promptMs: number }> {
  const mark = `install-${crypto.randomUUID()}`;
  const start = Date.now();
  const tmux = await startTmux(freshConnectLine(sshd, mark, extra), {
    env: { TERM: "xterm-256color", LANG: "C.UTF-8", XDG_CACHE_HOME: CACHE },
  });
  try {
    const said = new Set<string>();
    await tmux.waitFor((s) => {
      for (const line of lines(s)) if (line.startsWith("tmosh")) said.add(line);
      return lines(s).some((l) => l.startsWith(PS1.trimEnd()));
    }, INSTALL_MS);
    const promptMs = Date.now() - start;
    await roundTrip(tmux, "echo fresh-$((6*7))", { expect: "fresh-42" });
    // The launcher's settings for the runtime stay out of the user's shell.
    await roundTrip(
      tmux,
      'echo "env-${DENO_NO_UPDATE_CHECK:-unset}-${TMOSH_UNSET_ENV:-unset}"',
      { expect: "env-unset-unset" },
    );
    const serverExe = await serverExecutable(mark);
    await typeLine(tmux, "exit");
    assert.equal(await tmux.waitForExit(20_000), 0);
    return { said: [...said], serverExe, promptMs };
  } finally {
    await tmux.kill();
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
}

/** The executable of the marked `tmosh serve` process. */
async function serverExecutable(mark: string): Promise<string> {
  for (const pid of await findPidsWithEnv(TEST_MARK_VAR, mark)) {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`)
      .catch(() => "");
    if (cmdline.split("\0").includes("serve")) {
      return await Deno.readLink(`/proc/${pid}/exe`);
    }
  }
  throw new Error("tmosh test: no marked tmosh serve process");
}

/** Runs `tmosh connect EXTRA` to the bare account without a terminal; returns its status and stderr. */
async function connectFails(
  sshd: Sshd,
  extra: string[],
): Promise<{ code: number; stderr: string }> {
  const mark = `install-${crypto.randomUUID()}`;
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", freshConnectLine(sshd, mark, extra)],
      env: { LANG: "C.UTF-8", XDG_CACHE_HOME: CACHE },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await killPidsWithEnv(TEST_MARK_VAR, mark);
  }
}

/** Names in `dir`, sorted (none when it does not exist). */
async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch {
    // absent
  }
  return names.sort();
}

/** Waits until no `.partial-*` is left in `dir` (the installer removes its own on exit). */
async function waitNoPartial(dir: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await entries(dir)).some((n) => n.startsWith(".partial-"))) {
    if (Date.now() > deadline) {
      throw new Error(`tmosh test: left in ${dir}: ${await entries(dir)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `fn` with the private sshd and the bare account (home emptied before and after). */
async function withFresh(
  fn: (sshd: Sshd, account: FreshAccount) => Promise<void>,
): Promise<void> {
  const account = await freshAccount();
  const sshd = await startSshd();
  try {
    await fn(sshd, account);
  } finally {
    await sshd.stop();
    await emptyHome(account.home, account.uid);
  }
}

/** Files of the self-contained form, as installed. */
const INSTALLED = ["deno", "deno.json", "tmosh", "tmosh.js"];

tests.test("install: the first connect installs and works, the second uploads nothing", async () => {
  await withFresh(async (sshd, account) => {
    const dir = account.installDir(TMOSH_VERSION);
    const probe = await new Deno.Command("sh", {
      args: [
        "-c",
        `${sshd.sshCommand} tmosh-fresh@127.0.0.1 'command -v tmosh || echo none'`,
      ],
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(probe.stdout).trim(), "none");

    const first = await session(sshd);
    const installLine = new RegExp(
      `^tmosh: installing tmosh ${
        TMOSH_VERSION.replaceAll(".", "\\.")
      } on 127\\.0\\.0\\.1 \\(\\d+\\.\\d MB\\)\\.\\.\\.$`,
    );
    assert.ok(
      first.said.some((l) => installLine.test(l)),
      first.said.join("\n"),
    );
    if (first.said.some((l) => l.startsWith("tmosh: uploading"))) {
      // The progress line was shown: it ended in the summary.
      assert.ok(
        first.said.some((l) =>
          /^tmosh: uploaded [\d.]+ MB in [\d.]+ s \([\d.]+ MB\/s\)$/.test(l)
        ),
        first.said.join("\n"),
      );
    }
    assert.ok(
      first.said.includes("tmosh: checking and unpacking it on 127.0.0.1..."),
      first.said.join("\n"),
    );
    assert.equal(first.serverExe, `${dir}/deno`, "the installed runtime runs");
    assert.deepEqual(await entries(dir), INSTALLED);
    const before = await Deno.stat(`${dir}/deno`);

    const second = await session(sshd);
    assert.deepEqual(second.said, [], "nothing said: nothing installed");
    assert.equal(second.serverExe, `${dir}/deno`);
    const after = await Deno.stat(`${dir}/deno`);
    assert.equal(after.ino, before.ino, "nothing was uploaded again");
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    console.log(
      `  first connect (install) ${first.promptMs} ms, second ${second.promptMs} ms to the prompt`,
    );
    // tmosh sessions finds the installed server too.
    const list = await new Deno.Command("sh", {
      args: [
        "-c",
        `${tmoshCommand("sessions")} --json --ssh=${
          shq(sshd.sshCommand)
        } tmosh-fresh@127.0.0.1`,
      ],
      stdin: "null",
    }).output();
    assert.equal(list.code, 0, new TextDecoder().decode(list.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(list.stdout)), []);
  });
});

tests.test("install: an upload cut off mid-way installs nothing; the next connect completes it", async () => {
  await withFresh(async (sshd, account) => {
    const dir = account.installDir(TMOSH_VERSION);
    const mark = `install-${crypto.randomUUID()}`;
    const child = new Deno.Command("sh", {
      args: ["-c", freshConnectLine(sshd, mark)],
      env: { LANG: "C.UTF-8", XDG_CACHE_HOME: CACHE },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      // Some of the payload has arrived: kill the ssh that carries it.
      const deadline = Date.now() + INSTALL_MS;
      let killed = 0;
      while (killed === 0) {
        assert.ok(Date.now() < deadline, "the upload never started");
        const partial = (await entries(dir)).find((n) => n.endsWith(".raw"));
        const size = partial === undefined
          ? 0
          : (await Deno.stat(`${dir}/${partial}`).catch(() => ({ size: 0 })))
            .size;
        if (size > 4_000_000) killed = await killUploadSsh(mark);
        else await new Promise((r) => setTimeout(r, 20));
      }
      const status = await child.status;
      assert.equal(status.code, 1);
      assert.match(
        (await stderr).trim().split("\n").at(-1)!,
        /^tmosh: the connection to 127\.0\.0\.1 dropped during the install \(ssh was ended by SIGKILL\); nothing was installed; run tmosh connect again$/,
      );
    } finally {
      await killPidsWithEnv(TEST_MARK_VAR, mark);
    }
    await waitNoPartial(dir);
    assert.deepEqual(await entries(dir), [], "no executable, no leftovers");

    const next = await session(sshd);
    assert.match(next.said.join("\n"), /tmosh: installing tmosh/);
    assert.equal(next.serverExe, `${dir}/deno`);
    assert.deepEqual(await entries(dir), INSTALLED);
  });
});

/** SIGKILLs the local ssh carrying the installer for `mark`; returns how many it killed. */
async function killUploadSsh(mark: string): Promise<number> {
  let killed = 0;
  for (const pid of await findPidsWithEnv(TEST_MARK_VAR, mark)) {
    const comm = (await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => ""))
      .trim();
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`)
      .catch(() => "");
    if (comm === "ssh" && cmdline.includes("tmosh-install")) {
      Deno.kill(pid, "SIGKILL");
      killed++;
    }
  }
  return killed;
}

tests.test("install: --install=never on a bare account gives the not-found error", async () => {
  await withFresh(async (sshd, account) => {
    const run = await connectFails(sshd, ["--install=never"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr.trim().split("\n").at(-1)!,
      /^tmosh: 'tmosh serve' was not found on 127\.0\.0\.1 \(exit 127\); copy the tmosh binary there or pass --server=PATH$/,
    );
    assert.deepEqual(await entries(account.home), []);
  });
});

tests.test("install: a read-only home gives a clear error", async () => {
  await withFresh(async (sshd, account) => {
    await Deno.chmod(account.home, 0o555);
    const run = await connectFails(sshd, []);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr.trim().split("\n").at(-1)!,
      /^tmosh: cannot install tmosh on 127\.0\.0\.1: mkdir: cannot create directory ‘?'?\/home\/tmosh-fresh\/\.local.*Permission denied; make ~\/\.local\/share\/tmosh\/[\d.]+ writable there, or install tmosh yourself and pass --server=PATH$/,
    );
    assert.deepEqual(await entries(account.home), []);
  });
});

tests.test("install: a full disk gives a clear error and leaves nothing", async () => {
  await withFresh(async (sshd, account) => {
    const local = `${account.home}/.local`;
    await Deno.mkdir(local);
    const mount = await new Deno.Command("mount", {
      args: [
        "-t",
        "tmpfs",
        "-o",
        `size=16m,mode=0755,uid=${account.uid},gid=${account.uid}`,
        "tmpfs",
        local,
      ],
    }).output();
    assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
    const run = await connectFails(sshd, []);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr.trim().split("\n").at(-1)!,
      /^tmosh: cannot install tmosh on 127\.0\.0\.1: no space left on the device of ~\/\.local\/share\/tmosh\/[\d.]+ \(\d+\.\d MB needed\); free some space and try again$/,
    );
    const dir = account.installDir(TMOSH_VERSION);
    await waitNoPartial(dir);
    assert.deepEqual(await entries(dir), []);
  });
});

tests.test("install: --install=always replaces an installed tmosh", async () => {
  await withFresh(async (sshd, account) => {
    const dir = account.installDir(TMOSH_VERSION);
    // An older build at the same place, which cannot start a server.
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/tmosh`,
      "#!/bin/sh\necho old build\nexit 1\n",
    );
    await Deno.chmod(`${dir}/tmosh`, 0o755);
    await new Deno.Command("chown", {
      args: ["-R", `${account.uid}:${account.uid}`, `${account.home}/.local`],
    }).output();
    const old = await connectFails(sshd, []);
    assert.notEqual(old.code, 0, "auto runs the installed one");
    const upgraded = await session(sshd, ["--install=always"]);
    assert.match(upgraded.said.join("\n"), /tmosh: installing tmosh/);
    assert.equal(upgraded.serverExe, `${dir}/deno`);
    assert.match(await Deno.readTextFile(`${dir}/tmosh`), /tmosh\.js/);
  });
});
