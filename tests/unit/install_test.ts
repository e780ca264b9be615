/**
 * The self-install's client side, without a host: `--install` parsing, the
 * host's target triple, which payload a platform gets (and the one-line error
 * naming the file when there is none), the progress line, and the one-line
 * errors an install ends with. The real thing is tests/e2e/install_test.ts.
 * @module
 */

import assert from "node:assert/strict";
import { parseConnectArgs } from "../../client/bootstrap/connect_args.ts";
import { failureText } from "../../client/bootstrap/install.ts";
import {
  glibcTooOld,
  hostTarget,
  preparePayload,
} from "../../client/bootstrap/install_payload.ts";
import { createHash } from "node:crypto";
import { createTarDecoder } from "modern-tar";
import {
  progressText,
  summaryText,
  UploadProgress,
} from "../../client/bootstrap/install_progress.ts";
import { installMode } from "../../client/bootstrap/install_script.ts";
import { options } from "../../harness/connect_helpers.ts";
import { tmoshProcess } from "../../harness/serve_process.ts";
import { TMOSH_VERSION } from "../../version.ts";

Deno.test("--install: auto by default, never, always; bad values and always with --server refused", () => {
  assert.equal(options(["h"]).install, "auto");
  assert.equal(options(["--install=never", "h"]).install, "never");
  assert.equal(options(["--install", "always", "h"]).install, "always");
  const bad = parseConnectArgs(["--install=sometimes", "h"]);
  assert.deepEqual(bad, {
    kind: "error",
    message:
      'tmosh: unknown --install mode "sometimes"; use auto, never or always',
  });
  const clash = parseConnectArgs(["--install=always", "--server=x", "h"]);
  assert.equal(clash.kind, "error");
  assert.match((clash as { message: string }).message, /^tmosh: .*--server/);
});

Deno.test("installMode: the finder runs only for the default server over ssh", () => {
  assert.equal(installMode(options(["h"])), "auto");
  assert.equal(installMode(options(["--install=never", "h"])), "never");
  assert.equal(installMode(options(["--server=mosh-server", "h"])), null);
  assert.equal(installMode(options(["--local", "h"])), null);
});

Deno.test("hostTarget: uname and libc to the Rust triple deno compile uses", () => {
  const t = (os: string, arch: string, libc = "glibc 2.36") =>
    hostTarget({ os, arch, libc });
  assert.equal(t("Linux", "x86_64"), "x86_64-unknown-linux-gnu");
  assert.equal(t("Linux", "aarch64"), "aarch64-unknown-linux-gnu");
  assert.equal(t("Linux", "x86_64", "musl"), "x86_64-unknown-linux-musl");
  assert.equal(t("Darwin", "arm64", "unknown"), "aarch64-apple-darwin");
  assert.equal(t("Darwin", "x86_64", "unknown"), "x86_64-apple-darwin");
  assert.equal(t("FreeBSD", "amd64", "unknown"), "x86_64-freebsd");
});

Deno.test("glibcTooOld: the server needs glibc 2.34", () => {
  const probe = (libc: string) => ({ os: "Linux", arch: "x86_64", libc });
  assert.equal(glibcTooOld(probe("glibc 2.36"), "h"), null);
  assert.equal(glibcTooOld(probe("glibc 2.34"), "h"), null);
  assert.equal(glibcTooOld(probe("musl"), "h"), null);
  assert.equal(
    glibcTooOld(probe("glibc 2.31"), "h"),
    "tmosh: h has glibc 2.31; tmosh's server needs glibc 2.34 or later; install it there yourself and pass --server=PATH",
  );
});

Deno.test("preparePayload: a platform with no build names the file needed", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const target = Deno.build.arch === "aarch64"
      ? "x86_64-unknown-linux-gnu"
      : "aarch64-unknown-linux-gnu";
    await assert.rejects(
      preparePayload(target, {
        host: "h",
        platform: "Linux other",
        env: { XDG_CACHE_HOME: cache },
      }),
      (e: Error) => {
        assert.equal(
          e.message,
          `tmosh: no tmosh for h (Linux other): ${
            new URL(`../../dist/tmosh-${target}`, import.meta.url).pathname
          } is needed (deno task compile ${target} builds it into dist/); or install tmosh there and pass --server=PATH`,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("progress: nothing for a short upload; on a terminal redrawn in place, then one summary line", () => {
  const quick: string[] = [];
  const short = new UploadProgress(1000, {
    now: 0,
    terminal: true,
    write: (t) => quick.push(t),
  });
  short.update(500, 400);
  short.finish(1000, 900, { ok: true });
  assert.deepEqual(quick, []);

  const shown: string[] = [];
  const long = new UploadProgress(40e6, {
    now: 0,
    terminal: true,
    write: (t) => shown.push(t),
  });
  long.update(5e6, 500);
  long.update(10e6, 1000);
  long.update(11e6, 1100); // within 200 ms of the last redraw
  long.update(20e6, 2000);
  long.finish(40e6, 4000, { ok: true });
  assert.deepEqual(shown, [
    "\rtmosh: uploading 10.0 of 40.0 MB (25%), 10.0 MB/s, 3 s left\x1b[K",
    "\rtmosh: uploading 20.0 of 40.0 MB (50%), 10.0 MB/s, 2 s left\x1b[K",
    "\rtmosh: uploaded 40.0 MB in 4.0 s (10.0 MB/s)\x1b[K\n",
  ]);

  const piped: string[] = [];
  const log = new UploadProgress(40e6, {
    now: 0,
    terminal: false,
    write: (t) => piped.push(t),
  });
  log.update(20e6, 2000);
  log.finish(40e6, 4000, { ok: true });
  assert.deepEqual(piped, ["tmosh: uploaded 40.0 MB in 4.0 s (10.0 MB/s)\n"]);

  const cut: string[] = [];
  const failed = new UploadProgress(40e6, {
    now: 0,
    terminal: true,
    write: (t) => cut.push(t),
  });
  failed.update(20e6, 2000);
  failed.finish(20e6, 2500, { ok: false });
  assert.equal(cut.at(-1), "\r\x1b[K", "the line is cleared for the error");
  assert.equal(
    progressText(0, 10, 0),
    "tmosh: uploading 0.0 of 0.0 MB (0%), 0.0 MB/s, ? s left",
  );
  assert.equal(
    summaryText(1e6, 0),
    "tmosh: uploaded 1.0 MB in 0.0 s (1000.0 MB/s)",
  );
});

Deno.test("failureText: each way an install fails is one line saying what to do", () => {
  const status = (code: number, signal: Deno.Signal | null = null) => ({
    success: code === 0,
    code,
    signal,
  });
  const context = { host: "h", payload: { size: 95e6 } };
  const text = (
    result: Parameters<typeof failureText>[0]["result"],
    code = 0,
    stderr = "",
  ) => failureText({ result, status: status(code), stderr }, context);
  assert.equal(text({ ok: true, dir: "/x" }), null);
  assert.equal(
    failureText({
      result: null,
      status: status(137, "SIGKILL"),
      stderr: "MOSH IP 127.0.0.1\n",
    }, context),
    "tmosh: the connection to h dropped during the install (ssh was ended by SIGKILL); nothing was installed; run tmosh connect again",
  );
  assert.equal(
    text(null, 255, "Connection reset by peer\r\n"),
    "tmosh: the connection to h dropped during the install (ssh exited with status 255: Connection reset by peer); nothing was installed; run tmosh connect again",
  );
  assert.match(
    text({ ok: false, stage: "mkdir", detail: "mkdir: Permission denied" }, 3)!,
    /^tmosh: cannot install tmosh on h: mkdir: Permission denied; make ~\/\.local\/share\/tmosh\/\S+ writable there/,
  );
  assert.match(
    text({
      ok: false,
      stage: "write",
      detail: "gzip: write error: No space left on device",
    }, 3)!,
    /^tmosh: cannot install tmosh on h: no space left on the device of \S+ \(95\.0 MB needed\); free some space and try again$/,
  );
  assert.match(
    text({
      ok: false,
      stage: "write",
      detail: "gzip: stdin: unexpected end of file",
    }, 3)!,
    /^tmosh: the upload to h was cut short \(gzip: stdin: unexpected end of file\); nothing was installed/,
  );
  assert.match(
    text({ ok: false, stage: "sha256", detail: "00" }, 3)!,
    /^tmosh: the upload to h arrived damaged \(sha256 mismatch\)/,
  );
  assert.match(
    text({ ok: false, stage: "nosha", detail: "" }, 3)!,
    /no sha256sum or shasum/,
  );
  for (const stage of ["mkdir", "write", "size", "nosha", "unpack", "move"]) {
    const line = text({ ok: false, stage, detail: "a\nb" }, 3)!;
    assert.match(line, /^tmosh: /);
    assert.doesNotMatch(line, /\n/);
  }
});

Deno.test("tmosh serve --version: the version and the platform", async () => {
  const out = await tmoshProcess(["serve", "--version"], {
    stdin: "null",
  }).output();
  assert.equal(out.code, 0);
  assert.equal(
    new TextDecoder().decode(out.stdout),
    `tmosh ${TMOSH_VERSION} ${Deno.build.target} (serve: a Mosh 1.4 compatible server)\n`,
  );
});

Deno.test("preparePayload from source: runtime, bundle, config and launcher, compressed once into the cache", async () => {
  const cache = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${cache}/tmosh`);
    const stale = `${cache}/tmosh/payload-0.0.1-tar-0123.gz`;
    await Deno.writeTextFile(stale, "old version");
    const context = {
      host: "h",
      platform: "Linux",
      env: { XDG_CACHE_HOME: cache },
    };
    const payload = await preparePayload(Deno.build.target, context);
    assert.equal(payload.kind, "tar");
    assert.equal(payload.temporary, false);
    assert.ok(
      payload.path.startsWith(`${cache}/tmosh/payload-${TMOSH_VERSION}-tar-`),
    );
    assert.equal((await Deno.stat(`${cache}/tmosh`)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(payload.path)).mode! & 0o777, 0o600);
    await assert.rejects(
      Deno.stat(stale),
      "an older version's payload is removed",
    );

    // What the host will check: the uncompressed size and SHA-256; what it unpacks.
    const hash = createHash("sha256");
    let size = 0;
    const entries: [string, number, number][] = [];
    const file = await Deno.open(payload.path);
    const tar = file.readable.pipeThrough(
      new DecompressionStream("gzip") as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    ).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          hash.update(chunk);
          size += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    ).pipeThrough(createTarDecoder());
    let launcher = "";
    for await (const entry of tar) {
      const { name, size: length, mode } = entry.header;
      entries.push([name, length, mode ?? 0]);
      if (name === "tmosh") launcher = await new Response(entry.body).text();
      else await entry.body.cancel();
    }
    assert.equal(size, payload.size);
    assert.equal(hash.digest("hex"), payload.sha256);
    assert.deepEqual(entries.map(([n]) => n), [
      "deno",
      "tmosh.js",
      "deno.json",
      "tmosh",
    ]);
    assert.equal(entries[0][1], (await Deno.stat(Deno.execPath())).size);
    assert.equal(entries[0][2], 0o755);
    assert.equal(entries[3][2], 0o755);
    assert.match(
      launcher,
      /exec "\$d\/deno" run -A --quiet --no-prompt --no-remote --no-npm .* "\$d\/tmosh\.js" "\$@"/,
    );

    // The next host gets the same file, not compressed again.
    const before = await Deno.stat(payload.path);
    const again = await preparePayload(Deno.build.target, context);
    assert.equal(again.path, payload.path);
    assert.equal(again.sha256, payload.sha256);
    assert.equal(
      (await Deno.stat(again.path)).mtime?.getTime(),
      before.mtime?.getTime(),
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
