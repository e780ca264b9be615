/**
 * `tmosh connect`'s self-install (docs/architecture.md §9): after the finder
 * (install_script.ts) reported a host without tmosh, choose the payload
 * (install_payload.ts), say so in one line, send it compressed through a
 * second ssh to the installer with a progress line (install_progress.ts), and
 * turn the installer's verdict, or ssh's failure, into one clear line.
 * @module
 */

import { writeAll } from "../../stdio.ts";
import { TMOSH_VERSION } from "../../version.ts";
import { shellQuote } from "./connect.ts";
import {
  type HostProbe,
  INSTALL_ROOT,
  installerWords,
  type InstallResult,
  parseInstallerLine,
} from "./install_script.ts";
import {
  glibcTooOld,
  hostTarget,
  type Payload,
  preparePayload,
} from "./install_payload.ts";
import { megabytes, UploadProgress } from "./install_progress.ts";

/** What {@linkcode installOnHost} needs from the bootstrap. */
export interface InstallContext {
  /** Host name, for messages. */
  host: string;
  /** The finder's report. */
  probe: HostProbe;
  /** Environment of ssh (and of the payload cache lookup: HOME, XDG_CACHE_HOME). */
  env: Record<string, string>;
  /** ssh's argv running `remote` with stdin passed on (no pty). */
  sshArgv: (remote: string) => string[];
  /** Receives the one-line notices and the progress text; default stderr. */
  write?: (text: string) => void;
}

/** Installs tmosh on the host; resolves once it is in place, throws a one-line error otherwise. */
export async function installOnHost(context: InstallContext): Promise<void> {
  const { host, probe } = context;
  const write = context.write ?? ((text) => writeAll(Deno.stderr, text));
  const platform = `${probe.os} ${probe.arch}${
    probe.libc === "unknown" ? "" : `, ${probe.libc}`
  }`;
  const old = glibcTooOld(probe, host);
  if (old !== null) throw new Error(old);
  const payload = await preparePayload(hostTarget(probe), {
    host,
    platform,
    env: context.env,
  });
  try {
    write(
      `tmosh: installing tmosh ${TMOSH_VERSION} on ${host} (${
        megabytes(payload.compressedSize)
      } MB)...\n`,
    );
    const outcome = await upload(payload, context, write);
    const why = failureText(outcome, { host, payload });
    if (why !== null) throw new Error(why);
  } finally {
    if (payload.temporary) await Deno.remove(payload.path).catch(() => {});
  }
}

/** How an upload ended: the installer's verdict (if it gave one), ssh's status, its stderr. */
export interface UploadOutcome {
  /** The installer's `TMOSH INSTALLED` / `TMOSH INSTALL-FAILED` line, parsed, or null. */
  result: InstallResult | null;
  /** ssh's exit status. */
  status: Deno.CommandStatus;
  /** What ssh and the remote side wrote on stderr (last lines). */
  stderr: string;
}

/** Runs the installer over ssh, feeding it the payload with progress. */
async function upload(
  payload: Payload,
  context: InstallContext,
  write: (text: string) => void,
): Promise<UploadOutcome> {
  const argv = context.sshArgv(shellQuote(installerWords(payload)));
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: context.env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  const progress = new UploadProgress(payload.compressedSize, {
    now: performance.now(),
    terminal: Deno.stderr.isTerminal(),
    write,
  });
  let sent = 0;
  let sentAll = false;
  const writer = child.stdin.getWriter();
  const file = await Deno.open(payload.path);
  try {
    for await (const chunk of file.readable) {
      await writer.write(chunk);
      sent += chunk.length;
      progress.update(sent, performance.now());
    }
    await writer.close();
    sentAll = true;
  } catch {
    // ssh went away: its status says why
    writer.releaseLock();
    await child.stdin.close().catch(() => {});
  } finally {
    try {
      file.close();
    } catch {
      // its readable closed it at the end
    }
  }
  progress.finish(sent, performance.now(), { ok: sentAll });
  // The host now checks and unpacks it (a second or two for the runtime).
  if (sentAll) {
    write(`tmosh: checking and unpacking it on ${context.host}...\n`);
  }
  const status = await child.status;
  const lines = (await stdout).split("\n");
  const result = lines.map(parseInstallerLine).findLast((r) => r !== null) ??
    null;
  return { result, status, stderr: (await stderr).trim() };
}

/** The one-line reason an install failed, or null when it succeeded. */
export function failureText(
  outcome: UploadOutcome,
  context: { host: string; payload: Pick<Payload, "size"> },
): string | null {
  const { result, status } = outcome;
  const { host } = context;
  if (result?.ok === true && status.code === 0) return null;
  const where = `~/${INSTALL_ROOT}/${TMOSH_VERSION}`;
  const cannot = `tmosh: cannot install tmosh on ${host}`;
  const retry = "nothing was installed; run tmosh connect again";
  if (result === null || result.ok) {
    const how = status.signal !== null
      ? `ssh was ended by ${status.signal}`
      : `ssh exited with status ${status.code}`;
    const said = lastLine(outcome.stderr);
    return `tmosh: the connection to ${host} dropped during the install (${how}${
      said === "" ? "" : `: ${said}`
    }); ${retry}`;
  }
  const detail = result.detail.replace(/\s+/g, " ").trim();
  switch (result.stage) {
    case "mkdir":
      return `${cannot}: ${detail}; make ${where} writable there, or install tmosh yourself and pass --server=PATH`;
    case "write":
      if (/no space/i.test(detail)) {
        return `${cannot}: no space left on the device of ${where} (${
          megabytes(context.payload.size)
        } MB needed); free some space and try again`;
      }
      if (/unexpected end|end of file|crc|format/i.test(detail)) {
        return `tmosh: the upload to ${host} was cut short (${detail}); ${retry}`;
      }
      return `${cannot}: writing under ${where} failed: ${detail}`;
    case "size":
    case "sha256":
      return `tmosh: the upload to ${host} arrived damaged (${result.stage} mismatch); ${retry}`;
    case "nosha":
      return `${cannot}: it has no sha256sum or shasum to check the upload; install coreutils there, or install tmosh yourself and pass --server=PATH`;
    default:
      if (/no space/i.test(detail)) {
        return `${cannot}: no space left on the device of ${where}; free some space and try again`;
      }
      return `${cannot}: ${result.stage} failed: ${detail}`;
  }
}

/** The last non-empty line of `text`, without carriage returns. */
function lastLine(text: string): string {
  return text.split("\n").map((l) => l.replace(/\r/g, "").trim())
    .filter((l) => l !== "" && !l.startsWith("MOSH ")).at(-1) ?? "";
}
