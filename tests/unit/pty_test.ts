// Tests for server/pty.ts: a real pty running a real shell (needs --allow-all: FFI, /proc, env).

import assert from "node:assert/strict";
import {
  buildChildEnv,
  isUtf8Locale,
  loginShell,
  Pty,
} from "../../server/pty.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SIGHUP = 1;
const SIGPIPE = 13;

function shellEnv(): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/",
    TERM: "dumb",
    PS1: "PROMPT> ",
    LANG: "C.UTF-8",
  };
}

/** A pty running bash, with its output collected as text. */
class Shell {
  readonly pty: Pty;
  text = "";
  #waiters: (() => void)[] = [];

  constructor(
    cols = 80,
    rows = 24,
    command = ["/bin/bash", "--norc", "--noprofile", "-i"],
  ) {
    this.pty = Pty.spawn(command, { cols, rows, env: shellEnv() });
    this.pty.onData((chunk) => {
      this.text += decoder.decode(chunk, { stream: true });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Wait until `re` matches the output after index `from` (default: all of it). */
  async waitFor(re: RegExp, from = 0, ms = 5000): Promise<RegExpMatchArray> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${re}; output: ${
                JSON.stringify(this.text)
              }`,
            ),
          ),
        ms,
      );
    });
    try {
      for (;;) {
        const m = this.text.slice(from).match(re);
        if (m) return m;
        await Promise.race([
          new Promise<void>((r) => this.#waiters.push(r)),
          timeout,
        ]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Type `line` + Enter and wait for `re` in what follows. */
  async run(line: string, re: RegExp): Promise<RegExpMatchArray> {
    const from = this.text.length;
    await this.pty.write(encoder.encode(line + "\n"));
    return await this.waitFor(re, from);
  }

  /** Close the pty and wait until the child is reaped and reading has stopped. */
  async dispose(): Promise<void> {
    this.pty.close();
    await deadline(
      Promise.all([this.pty.exited, this.pty.closed]),
      5000,
      "close()",
    );
  }
}

/** `p`, or a rejection if it takes longer than `ms`. */
async function deadline<T>(
  p: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The pids of the children of `pid` (e.g. the shell's foreground job). */
function childrenOf(pid: number): number[] {
  const s = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
  return s === "" ? [] : s.split(/\s+/).map(Number);
}

/** Wait until `pid` runs `name` as the tty's foreground job (exec done, job control set up). */
async function waitForForegroundChild(
  pid: number,
  name: string,
): Promise<number> {
  for (let i = 0; i < 500; i++) {
    for (const kid of childrenOf(pid)) {
      const stat = Deno.readTextFileSync(`/proc/${kid}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields: 0 state, 1 ppid, 2 pgrp, 3 session, 4 tty_nr, 5 tpgid
      if (comm === name && fields[2] === fields[5]) return kid;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`pid ${pid} started no foreground ${name} within 5 s`);
}

function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** This process's fds whose /proc fdinfo has a line `key:\t<value>`. */
function fdsWithInfo(key: string, value: string | number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
      if (info.split("\n").includes(`${key}:\t${value}`)) {
        found.push(Number(entry.name));
      }
    } catch {
      // closed meanwhile (another test module running in parallel)
    }
  }
  return found;
}

Deno.test("pty: the child's tty is /dev/pts/N, with IUTF8 set", async () => {
  const sh = new Shell();
  try {
    await sh.waitFor(/PROMPT> /);
    await sh.run("tty", /\/dev\/pts\/\d+\r\n/);
    const [, flag] = await sh.run("stty -a", /(-?)iutf8/);
    assert.equal(flag, "", "IUTF8 must be on in the pty's termios");
    await sh.run("echo he''llo", /\r\nhello\r\n/);
  } finally {
    await sh.dispose();
  }
});

Deno.test("pty: stty size follows resize", async () => {
  const sh = new Shell(80, 24);
  try {
    await sh.waitFor(/PROMPT> /);
    await sh.run("stty size", /\r\n24 80\r\n/);
    sh.pty.resize(132, 50);
    await sh.run("stty size", /\r\n50 132\r\n/);
    assert.throws(() => sh.pty.resize(0, 10), /tmosh: pty cols/);
  } finally {
    await sh.dispose();
  }
});

Deno.test("pty: Ctrl-C interrupts the foreground job and the shell survives", async () => {
  const sh = new Shell();
  try {
    await sh.waitFor(/PROMPT> /);
    await sh.pty.write(encoder.encode("sleep 100\n"));
    const sleeper = await waitForForegroundChild(sh.pty.pid, "sleep");
    const from = sh.text.length;
    await sh.pty.write(encoder.encode("\x03"));
    await sh.waitFor(/\^C/, from);
    await sh.run("echo al''ive $?", /\r\nalive 130\r\n/); // 128 + SIGINT
    assert.equal(isAlive(sleeper), false);
    assert.ok(isAlive(sh.pty.pid));
  } finally {
    await sh.dispose();
  }
});

Deno.test("pty: Ctrl-Z stops a job and kill %1 ends it", async () => {
  const sh = new Shell();
  try {
    await sh.waitFor(/PROMPT> /);
    await sh.pty.write(encoder.encode("sleep 100\n"));
    const sleeper = await waitForForegroundChild(sh.pty.pid, "sleep");
    const from = sh.text.length;
    await sh.pty.write(encoder.encode("\x1a"));
    await sh.waitFor(/\[1\]\+\s+Stopped\s+sleep 100/, from);
    assert.match(
      Deno.readTextFileSync(`/proc/${sleeper}/stat`),
      /^\d+ \(sleep\) T/,
    );
    await sh.run("kill %1", /PROMPT> /);
    // SIGTERM (plus the SIGCONT bash adds for a stopped job) ends it asynchronously.
    for (let i = 0; i < 200 && isAlive(sleeper); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(isAlive(sleeper), false, "kill %1 must end the stopped job");
    await sh.run("echo al''ive", /\r\nalive\r\n/);
  } finally {
    await sh.dispose();
  }
});

Deno.test("pty: a 1 MB paste into cat arrives intact (writes wait for room)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tmosh_pty_" });
  const sh = new Shell();
  try {
    await sh.waitFor(/PROMPT> /);
    // Printable lines (< 4095 B, the canonical-mode line limit), no control characters.
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < 1 << 20; i++) {
      const line = `${i} ${
        "abcdefghijklmnopqrstuvwxyz0123456789".repeat(1 + (i % 7))
      }\n`;
      lines.push(line);
      size += line.length;
    }
    const paste = encoder.encode(lines.join(""));
    await sh.run("stty -echo; echo re''ady", /\r\nready\r\n/);
    await sh.pty.write(encoder.encode(`cat > ${dir}/paste\n`));
    await waitForForegroundChild(sh.pty.pid, "cat");
    const t0 = performance.now();
    await sh.pty.write(paste);
    await sh.pty.write(encoder.encode("\x04")); // EOF for cat, in order after the paste
    await sh.run("echo do''ne", /> done\r\n/); // no echo: the prompt, then the output
    const elapsed = performance.now() - t0;
    const got = await Deno.readFile(`${dir}/paste`);
    assert.equal(got.length, paste.length);
    assert.deepEqual(got, paste);
    console.log(`1 MB paste through the pty: ${elapsed.toFixed(0)} ms`);
  } finally {
    try {
      await sh.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("pty: a 2 MB output flood arrives whole, in ≤ 64 KiB chunks, without starving timers", async () => {
  const total = 2 << 20;
  const pty = Pty.spawn([
    "/bin/sh",
    "-c",
    `head -c ${total} /dev/zero | tr '\\0' x`,
  ], {
    cols: 80,
    rows: 24,
    env: shellEnv(),
  });
  let bytes = 0;
  let biggest = 0;
  pty.onData((chunk) => {
    bytes += chunk.length;
    biggest = Math.max(biggest, chunk.length);
    // A slow consumer (1 ms per chunk, like an emulator): the pty always has data ready.
    const until = performance.now() + 1;
    while (performance.now() < until) { /* busy */ }
  });
  let last = performance.now();
  let worstGap = 0;
  const interval = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
  }, 10);
  const t0 = performance.now();
  try {
    assert.deepEqual(await deadline(pty.exited, 20000, "the flood"), {
      code: 0,
      signal: null,
    });
    await pty.closed;
  } finally {
    clearInterval(interval);
    pty.close();
  }
  const ms = performance.now() - t0;
  console.log(
    `flood: ${
      (total / 1e6 / (ms / 1000)).toFixed(1)
    } MB/s, biggest chunk ${biggest} B, ` +
      `worst timer gap ${worstGap.toFixed(0)} ms over ${ms.toFixed(0)} ms`,
  );
  assert.equal(bytes, total);
  assert.ok(biggest <= 64 * 1024);
  assert.ok(
    worstGap < 150,
    `a 10 ms timer waited ${worstGap.toFixed(0)} ms during the flood`,
  );
});

Deno.test("pty: a write the child never reads waits without blocking; close() rejects it", async () => {
  const sh = new Shell(80, 24, ["/bin/sleep", "100"]);
  const big = new Uint8Array(1 << 20).fill(0x61);
  for (let i = 1023; i < big.length; i += 1024) big[i] = 0x0a;
  let settled = "pending";
  const pending = sh.pty.write(big).then(
    () => settled = "resolved",
    (err: Error) => settled = err.message,
  );
  let ticks = 0;
  const interval = setInterval(() => ticks++, 5);
  await new Promise((r) => setTimeout(r, 200));
  clearInterval(interval);
  assert.equal(
    settled,
    "pending",
    "the tty cannot take 1 MB while nobody reads it",
  );
  assert.ok(ticks >= 10, `the event loop must keep running (${ticks} ticks)`);
  await sh.dispose();
  await pending;
  assert.match(settled, /tmosh: the pty is closed/);
  assert.deepEqual(await sh.pty.exited, { code: null, signal: SIGHUP });
});

Deno.test("pty: exit status of `exit 3` is 3 and reading ends", async () => {
  const sh = new Shell();
  await sh.waitFor(/PROMPT> /);
  await sh.pty.write(encoder.encode("exit 3\n"));
  assert.deepEqual(await sh.pty.exited, { code: 3, signal: null });
  await sh.pty.closed;
  await assert.rejects(sh.pty.write(encoder.encode("x")), /tmosh: /);
  sh.pty.resize(100, 30); // ignored once finished
  sh.pty.close(); // idempotent
});

Deno.test("pty: close() hangs up, the child dies of SIGHUP promptly, fds are released", async () => {
  const sh = new Shell();
  await sh.waitFor(/PROMPT> /);
  await sh.pty.write(encoder.encode("")); // an empty write resolves at once
  // Our master (fdinfo names its tty) and our pidfd (fdinfo names the child).
  const tty = Deno.readLinkSync(`/proc/${sh.pty.pid}/fd/0`).match(
    /^\/dev\/pts\/(\d+)$/,
  )![1];
  const masters = fdsWithInfo("tty-index", tty);
  const pidfds = fdsWithInfo("Pid", sh.pty.pid);
  assert.equal(masters.length, 1, "one master fd for the child's tty");
  assert.equal(pidfds.length, 1, "one pidfd for the child");
  const t0 = performance.now();
  sh.pty.close();
  await assert.rejects(
    sh.pty.write(encoder.encode("x")),
    /tmosh: the pty is closed/,
  );
  const exit = await deadline(sh.pty.exited, 5000, "the child's exit");
  const elapsed = performance.now() - t0;
  await sh.pty.closed;
  assert.deepEqual(exit, { code: null, signal: SIGHUP });
  assert.ok(
    elapsed < 1000,
    `child took ${elapsed.toFixed(0)} ms to die after close()`,
  );
  await new Promise((r) => setTimeout(r, 0)); // the fd release runs once no poll holds them
  assert.ok(
    !fdsWithInfo("tty-index", tty).includes(masters[0]),
    "master closed",
  );
  assert.ok(
    !fdsWithInfo("Pid", sh.pty.pid).includes(pidfds[0]),
    "pidfd closed",
  );
});

Deno.test("pty: the child has only fds 0, 1, 2 (all the slave) and default SIGPIPE", async () => {
  // A non-close-on-exec pipe in this process must not reach the child.
  const leak = Deno.dlopen(
    "libc.so.6",
    {
      pipe: { parameters: ["buffer"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );
  const pipeFds = new Int32Array(2);
  assert.equal(leak.symbols.pipe(pipeFds), 0);
  const sh = new Shell(80, 24, ["/bin/sleep", "100"]);
  try {
    // Checked once the child runs the program (between fork and exec it
    // may still hold the fds it is about to close).
    const cmdline = `/proc/${sh.pty.pid}/cmdline`;
    for (let i = 0; i < 200; i++) {
      if (Deno.readTextFileSync(cmdline).startsWith("/bin/sleep")) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const fdDir = `/proc/${sh.pty.pid}/fd`;
    const list = () =>
      [...Deno.readDirSync(fdDir)].map((e) => Number(e.name)).sort();
    // The exec may still be closing the parent's other descriptors.
    let fds = list();
    for (let i = 0; i < 100 && fds.length > 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      fds = list();
    }
    assert.deepEqual(fds, [0, 1, 2]);
    const ttys = new Set(fds.map((fd) => Deno.readLinkSync(`${fdDir}/${fd}`)));
    assert.equal(ttys.size, 1);
    assert.match([...ttys][0], /^\/dev\/pts\/\d+$/);
    const status = Deno.readTextFileSync(`/proc/${sh.pty.pid}/status`);
    const ignored = BigInt("0x" + status.match(/SigIgn:\s*([0-9a-f]+)/)![1]);
    const blocked = BigInt("0x" + status.match(/SigBlk:\s*([0-9a-f]+)/)![1]);
    assert.equal(
      ignored & (1n << BigInt(SIGPIPE - 1)),
      0n,
      "SIGPIPE must not be ignored",
    );
    assert.equal(blocked, 0n, "no signal may be blocked");
    // The session leader owns the tty: its pid is its session and the tty's foreground group.
    const stat = Deno.readTextFileSync(`/proc/${sh.pty.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    assert.equal(Number(fields[3]), sh.pty.pid, "session id");
    assert.notEqual(Number(fields[4]), 0, "controlling tty");
    assert.equal(
      Number(fields[5]),
      sh.pty.pid,
      "foreground process group of the tty",
    );
  } finally {
    leak.symbols.close(pipeFds[0]);
    leak.symbols.close(pipeFds[1]);
    leak.close();
    await sh.dispose();
  }
});

Deno.test("pty: `yes | head -1` ends by SIGPIPE in the child", async () => {
  const sh = new Shell();
  try {
    await sh.waitFor(/PROMPT> /);
    await sh.run(
      'yes | head -1; echo "st=${PIPESTATUS[0]}"',
      /\r\nst=(\d+)\r\n/,
    );
    assert.match(sh.text, /\r\ny\r\nst=141\r\n/); // 128 + SIGPIPE
  } finally {
    await sh.dispose();
  }
});

Deno.test("pty: spawn options cwd, argv0 and env reach the child", async () => {
  const dir = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tmosh_pty_" }),
  );
  const pty = Pty.spawn(["/bin/sh", "-c", 'echo "$0|$(pwd)|$FOO"'], {
    cols: 80,
    rows: 24,
    cwd: dir,
    argv0: "-fancy",
    env: { FOO: "bar baz", PATH: "/usr/bin:/bin" },
  });
  let out = "";
  pty.onData((c) => out += decoder.decode(c));
  try {
    assert.deepEqual(await deadline(pty.exited, 5000, "sh -c"), {
      code: 0,
      signal: null,
    });
    await pty.closed;
    assert.equal(out, `-fancy|${dir}|bar baz\r\n`);
  } finally {
    pty.close();
    await Deno.remove(dir);
  }
});

Deno.test("pty: spawning a missing program throws and leaks no fd", async () => {
  assert.throws(
    () => Pty.spawn(["/nonexistent/tmosh-nope"], { cols: 80, rows: 24 }),
    /tmosh: starting "\/nonexistent\/tmosh-nope" failed: No such file or directory/,
  );
  assert.throws(
    () => Pty.spawn([], { cols: 80, rows: 24 }),
    /tmosh: no command/,
  );
  // Count fds in a process of its own: other test modules may run in parallel in this one.
  const script = `
    const { Pty } = await import(${
    JSON.stringify(new URL("../../server/pty.ts", import.meta.url).href)
  });
    const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const before = count();
    for (let i = 0; i < 20; i++) {
      try { Pty.spawn(["/nonexistent/tmosh-nope"], { cols: 80, rows: 24 }); } catch { /* expected */ }
    }
    console.log(before, count());`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  const [before, after] = decoder.decode(out.stdout).trim().split(" ").map(
    Number,
  );
  assert.ok(before > 0);
  assert.equal(after, before);
});

Deno.test("buildChildEnv: TERM, NCURSES_NO_UTF8_ACS, STY and the locale fallback", () => {
  const base = { LANG: "en_US.UTF-8", STY: "123.pts", HOME: "/h" };
  const env = buildChildEnv(base, {
    colors: 256,
    locale: { LANG: "fr_FR.UTF-8" },
  });
  assert.deepEqual(env, {
    LANG: "en_US.UTF-8",
    HOME: "/h",
    TERM: "xterm-256color",
    NCURSES_NO_UTF8_ACS: "1",
  });
  assert.equal(base.STY, "123.pts", "base is not modified");
  assert.equal(buildChildEnv({}, { colors: 8, locale: {} }).TERM, "xterm");

  const posix = {
    LANG: "C",
    LC_ALL: "POSIX",
    LC_TIME: "de_DE",
    LANGUAGE: "de",
    X: "1",
  };
  assert.deepEqual(
    buildChildEnv(posix, { colors: 0, locale: { LC_CTYPE: "C.UTF-8" } }),
    {
      X: "1",
      LC_CTYPE: "C.UTF-8",
      TERM: "xterm",
      NCURSES_NO_UTF8_ACS: "1",
    },
  );
  // The installed launcher's own settings stay out of the session.
  assert.deepEqual(
    buildChildEnv({
      LANG: "C.UTF-8",
      DENO_NO_UPDATE_CHECK: "1",
      TMOSH_UNSET_ENV: "DENO_NO_UPDATE_CHECK",
    }, { colors: 8, locale: {} }),
    { LANG: "C.UTF-8", TERM: "xterm", NCURSES_NO_UTF8_ACS: "1" },
  );
  assert.equal(isUtf8Locale({ LC_ALL: "", LANG: "de_DE.utf8" }), true);
  assert.equal(isUtf8Locale({ LC_ALL: "C", LANG: "de_DE.UTF-8" }), false);
  assert.equal(isUtf8Locale({}), false);
});

Deno.test("loginShell: the passwd shell as a login shell", async () => {
  const uid = Deno.uid()!;
  const out = await new Deno.Command("getent", {
    args: ["passwd", String(uid)],
  }).output();
  const passwdShell = decoder.decode(out.stdout).trim().split(":")[6] ?? "";
  const shell = loginShell();
  const expected = passwdShell || Deno.env.get("SHELL") || "/bin/sh";
  assert.equal(shell.path, expected);
  assert.equal(shell.argv0, "-" + expected.split("/").pop());
});

Deno.test("pty: pause() holds the child's output (the child blocks writing), resume() delivers all of it", async () => {
  const pty = Pty.spawn(["/bin/sh", "-c", "seq 1 200000; echo DONE"], {
    cols: 80,
    rows: 24,
    env: shellEnv(),
  });
  let text = "";
  const decoder = new TextDecoder();
  pty.pause();
  pty.onData((chunk) => {
    text += decoder.decode(chunk, { stream: true });
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(text, "", "nothing read while paused");
    let exited = false;
    pty.exited.then(() => exited = true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(exited, false, "the child waits for room to write");
    pty.resume();
    await deadline(pty.exited, 20000, "the child after resume");
    await deadline(pty.closed, 20000, "reading to the end");
    assert.ok(text.includes("DONE"));
    const nums = text.split("\r\n").filter((l) => /^\d+$/.test(l));
    assert.equal(nums.length, 200000);
    assert.equal(nums.at(-1), "200000");
  } finally {
    pty.close();
  }
});
