/**
 * Jump chains: `-J [user@]host[:port][,...]` as ssh takes them (also
 * `ssh://[user@]host[:port]` and `[IPv6]:port`), and a host's `ProxyJump`
 * from the user's ssh config as `ssh -G` prints it. Pure parsing; running
 * `ssh -G` is {@linkcode configuredJump}.
 * @module
 */

import { checkHost } from "./connect_args.ts";

/** One jump host of a chain. */
export interface JumpHop {
  /** Login name, or null for ssh's default. */
  user: string | null;
  /** Host name or address (an IPv6 address without brackets). */
  host: string;
  /** TCP port, or null for ssh's default. */
  port: number | null;
}

/** Parses a jump chain; returns the hops, or a one-line error starting with `tmosh: `. */
export function parseJumpChain(text: string): JumpHop[] | string {
  if (text.trim() === "") {
    return `tmosh: empty jump host list; use -J [user@]host[:port][,...]`;
  }
  const hops: JumpHop[] = [];
  for (const part of text.split(",")) {
    const hop = parseHop(part);
    if (typeof hop === "string") {
      return `tmosh: cannot parse jump host ${JSON.stringify(part)} in ${
        JSON.stringify(text)
      }: ${hop}; use -J [user@]host[:port][,...]`;
    }
    hops.push(hop);
  }
  return hops;
}

/** One `[ssh://][user@]host[:port]`; a reason string when it is not one. */
function parseHop(spec: string): JumpHop | string {
  let rest = spec.startsWith("ssh://") ? spec.slice(6) : spec;
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (rest === "") return "no host";
  const at = rest.lastIndexOf("@");
  const user = at >= 0 ? rest.slice(0, at) : null;
  if (user !== null && (user === "" || /[\s'"`$\\;&|<>(){}@:]/.test(user))) {
    return "bad user name";
  }
  rest = rest.slice(at + 1);
  let host: string;
  let portText: string | null = null;
  const v6 = /^\[([0-9A-Fa-f:.%\w-]+)\](?::(.*))?$/.exec(rest);
  if (v6 !== null) {
    host = v6[1];
    portText = v6[2] ?? null;
  } else {
    const colons = rest.split(":").length - 1;
    if (colons > 1) return "an IPv6 address needs brackets, [addr]:port";
    const colon = rest.indexOf(":");
    host = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? null : rest.slice(colon + 1);
  }
  if (host === "") return "no host";
  const bad = checkHost(host);
  if (bad !== null) return bad;
  let port: number | null = null;
  if (portText !== null) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      return `bad port ${JSON.stringify(portText)}`;
    }
  }
  return { user, host, port };
}

/** A hop as ssh's `-J` takes it again (`[user@]host[:port]`, IPv6 in brackets). */
export function formatHop(hop: JumpHop): string {
  const host = hop.host.includes(":") ? `[${hop.host}]` : hop.host;
  return `${hop.user === null ? "" : `${hop.user}@`}${host}${
    hop.port === null ? "" : `:${hop.port}`
  }`;
}

/** A chain as one `-J` value. */
export function formatChain(hops: readonly JumpHop[]): string {
  return hops.map(formatHop).join(",");
}

/** The `proxyjump` of `ssh -G` output, or null when there is none (or it is `none`). */
export function proxyJumpOf(sshG: string): string | null {
  const line = /^proxyjump\s+(.+?)\s*$/im.exec(sshG);
  if (line === null || line[1].toLowerCase() === "none") return null;
  return line[1];
}

/** The `hostname` of `ssh -G` output (the configured HostName), or null. */
export function hostNameOf(sshG: string): string | null {
  return /^hostname\s+(\S+)\s*$/im.exec(sshG)?.[1] ?? null;
}

/**
 * Runs `ssh -G [user@]host` with the user's ssh words and returns its output,
 * or null when ssh fails (old ssh without -G, bad config): then no configured
 * jump is assumed, as before.
 */
export async function configuredJump(
  ssh: readonly string[],
  userhost: string,
): Promise<string | null> {
  try {
    const out = await new Deno.Command(ssh[0], {
      args: [...ssh.slice(1), "-G", userhost],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}
