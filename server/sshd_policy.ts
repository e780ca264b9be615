/**
 * The host's sshd forwarding policy, honoured by `tmosh serve` (docs/wire.md
 * §17.7): AllowTcpForwarding, AllowStreamLocalForwarding,
 * AllowAgentForwarding, GatewayPorts, PermitListen and PermitOpen of
 * sshd_config (TMOSH_SSHD_CONFIG, else /etc/ssh/sshd_config): as `sshd -T`
 * evaluates it for the user where it can (root), else read here with its
 * Include files and the Match blocks that name the user (sshd's rule: the
 * first value of a keyword wins). Each check returns why it refuses, or null.
 * @module
 */

/** What sshd would allow this user. */
export interface ForwardPolicy {
  /** AllowTcpForwarding: yes/all, no, local, remote. */
  tcp: string;
  /** AllowStreamLocalForwarding (Unix sockets): yes/all, no, local, remote. */
  streamLocal: string;
  /** AllowAgentForwarding. */
  agent: boolean;
  /** GatewayPorts: no, yes, clientspecified. */
  gatewayPorts: string;
  /** PermitListen entries (`[host:]port`, `any`, `none`). */
  permitListen: string[];
  /** PermitOpen entries (`host:port`, `any`, `none`). */
  permitOpen: string[];
  /** The file the policy came from (for messages). */
  source: string;
}

/** sshd's defaults (sshd_config(5)). */
const DEFAULTS: Omit<ForwardPolicy, "source"> = {
  tcp: "yes",
  streamLocal: "yes",
  agent: true,
  gatewayPorts: "no",
  permitListen: ["any"],
  permitOpen: ["any"],
};

/** Default sshd configuration file. */
const SSHD_CONFIG = "/etc/ssh/sshd_config";
/** Include depth limit (sshd's is 16). */
const MAX_INCLUDE_DEPTH = 16;

/**
 * Reads the policy for `user` (TMOSH_SSHD_CONFIG names another file): what
 * `sshd -T -C user=USER` prints where sshd can evaluate the file (as root,
 * with readable host keys), else the file as parsed here; a missing file
 * gives sshd's defaults.
 */
export function readPolicy(
  user: string,
  env: Record<string, string | undefined>,
): ForwardPolicy {
  const path = configPath(env);
  const test = sshdTestCommand(path, user);
  let values: Map<string, string[]> | null = null;
  if (test !== null) {
    try {
      values = testValues(test.outputSync());
    } catch {
      // no sshd here
    }
  }
  return policyFrom(path, user, values);
}

/**
 * Starts reading the policy for the session environment's user (USER, else
 * LOGNAME) now, `sshd -T` running beside the session's start (a process:
 * 10-50 ms, on the way to the first prompt when read at the client's hello);
 * the function returned gives the policy, read at once as
 * {@linkcode readPolicy} does if that run has not ended yet.
 */
export function prefetchPolicy(
  env: Record<string, string | undefined>,
): () => ForwardPolicy {
  const user = env.USER ?? env.LOGNAME ?? "";
  const path = configPath(env);
  const test = sshdTestCommand(path, user);
  if (test === null) return () => readPolicy(user, env); // a file to parse: quick
  let ready: ForwardPolicy | null = null;
  test.output().then(
    (out) => ready = policyFrom(path, user, testValues(out)),
    () => ready = policyFrom(path, user, null), // no sshd here
  ).catch(() => {}); // the getter reads it then
  return () => ready ?? readPolicy(user, env);
}

/** The sshd_config the policy comes from. */
function configPath(env: Record<string, string | undefined>): string {
  return env.TMOSH_SSHD_CONFIG || SSHD_CONFIG;
}

/** The policy from sshd's own evaluation (`values`), or from the file as parsed here when null. */
function policyFrom(
  path: string,
  user: string,
  values: Map<string, string[]> | null,
): ForwardPolicy {
  if (values === null) {
    values = new Map<string, string[]>();
    collect(path, { user, values, depth: 0 });
  }
  const first = (k: string) => values.get(k);
  const word = (k: string, d: string) => (first(k)?.[0] ?? d).toLowerCase();
  return {
    tcp: word("allowtcpforwarding", DEFAULTS.tcp),
    streamLocal: word("allowstreamlocalforwarding", DEFAULTS.streamLocal),
    agent: word("allowagentforwarding", "yes") === "yes",
    gatewayPorts: word("gatewayports", DEFAULTS.gatewayPorts),
    permitListen: first("permitlisten") ?? DEFAULTS.permitListen,
    permitOpen: first("permitopen") ?? DEFAULTS.permitOpen,
    source: path,
  };
}

/** `sshd -T` for `user`, or null where sshd cannot evaluate the file (not root). */
function sshdTestCommand(path: string, user: string): Deno.Command | null {
  if (Deno.uid() !== 0 || !/^[A-Za-z0-9._-]+$/.test(user)) return null;
  return new Deno.Command("sshd", {
    args: [
      "-T",
      "-f",
      path,
      "-C",
      `user=${user},host=localhost,addr=127.0.0.1`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
}

/** The keywords `sshd -T` printed, or null when it failed. */
function testValues(out: Deno.CommandOutput): Map<string, string[]> | null {
  if (!out.success) return null;
  const values = new Map<string, string[]>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [key, ...args] = line.trim().split(/\s+/);
    if (key && !values.has(key)) values.set(key, args);
  }
  return values.has("allowtcpforwarding") ? values : null;
}

interface Collecting {
  user: string;
  values: Map<string, string[]>;
  depth: number;
}

/** Reads `path` (a glob of Include is not expanded beyond `*` in the last part). */
function collect(path: string, c: Collecting): void {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return;
  }
  let skip = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const m = /^(\S+)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (m === null) continue;
    const key = m[1].toLowerCase();
    const args = m[2].trim().split(/\s+/).filter((w) => w !== "");
    if (key === "match") {
      skip = !matches(args, c.user);
      continue;
    }
    if (skip) continue;
    if (key === "include") {
      if (c.depth >= MAX_INCLUDE_DEPTH) continue;
      for (const pattern of args) {
        for (const file of expand(pattern)) {
          collect(file, { ...c, depth: c.depth + 1 });
        }
      }
      continue;
    }
    if (!c.values.has(key)) c.values.set(key, args);
  }
}

/** Whether a Match line's criteria hold for `user` (User, Group unknown: not matched; All). */
function matches(args: string[], user: string): boolean {
  for (let i = 0; i < args.length; i++) {
    const what = args[i].toLowerCase();
    if (what === "all") continue;
    const value = args[++i] ?? "";
    if (what === "user") {
      if (!patternList(value, user)) return false;
    } else return false; // criteria we cannot judge: the block does not apply
  }
  return true;
}

/** sshd's pattern lists: comma separated, `*` and `?`, `!` negates. */
function patternList(list: string, name: string): boolean {
  let hit = false;
  for (const p of list.split(",")) {
    const negated = p.startsWith("!");
    const re = new RegExp(
      `^${
        (negated ? p.slice(1) : p).replace(/[.+^${}()|[\]\\]/g, "\\$&")
          .replace(/\*/g, ".*").replace(/\?/g, ".")
      }$`,
    );
    if (re.test(name)) {
      if (negated) return false;
      hit = true;
    }
  }
  return hit;
}

/** Files an Include names (relative to /etc/ssh; `*` in the file name). */
function expand(pattern: string): string[] {
  const path = pattern.startsWith("/") ? pattern : `/etc/ssh/${pattern}`;
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash), base = path.slice(slash + 1);
  if (!base.includes("*") && !base.includes("?")) return [path];
  const re = new RegExp(
    `^${
      base.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")
        .replace(/\?/g, ".")
    }$`,
  );
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      re.test(n)
    ).sort().map((n) => `${dir}/${n}`);
  } catch {
    return [];
  }
}

/** Why a -L, -D or -W connection to `host:port` is refused, or null. */
export function refuseOpen(
  policy: ForwardPolicy,
  target: { host: string; port: number } | { path: string },
): string | null {
  if ("path" in target) {
    if (policy.streamLocal === "no" || policy.streamLocal === "remote") {
      return `AllowStreamLocalForwarding ${policy.streamLocal} in ${policy.source}`;
    }
    return null;
  }
  if (policy.tcp === "no" || policy.tcp === "remote") {
    return `AllowTcpForwarding ${policy.tcp} in ${policy.source}`;
  }
  if (!permitted(policy.permitOpen, target.host, target.port)) {
    return `PermitOpen in ${policy.source} does not list ${target.host}:${target.port}`;
  }
  return null;
}

/** Why a -R listener on `bind:port` is refused, or null. */
export function refuseListen(
  policy: ForwardPolicy,
  bind: string,
  port: number,
): string | null {
  if (policy.tcp === "no" || policy.tcp === "local") {
    return `AllowTcpForwarding ${policy.tcp} in ${policy.source}`;
  }
  if (!permitted(policy.permitListen, bind, port, true)) {
    return `PermitListen in ${policy.source} does not allow port ${port}`;
  }
  return null;
}

/** Why agent forwarding is refused, or null. */
export function refuseAgent(policy: ForwardPolicy): string | null {
  return policy.agent ? null : `AllowAgentForwarding no in ${policy.source}`;
}

/** The address a -R listener binds, by GatewayPorts (sshd's rules). */
export function listenAddress(
  policy: ForwardPolicy,
  requested: string,
): string {
  if (policy.gatewayPorts === "yes") return "0.0.0.0";
  if (policy.gatewayPorts === "clientspecified" && requested !== "") {
    if (requested === "*") return "0.0.0.0";
    return requested === "localhost" ? "127.0.0.1" : requested;
  }
  return "127.0.0.1";
}

/** Whether `host:port` matches a PermitOpen / PermitListen list. */
function permitted(
  list: string[],
  host: string,
  port: number,
  listen = false,
): boolean {
  if (list.includes("none")) return false;
  if (list.includes("any")) return true;
  return list.some((entry) => {
    const colon = entry.lastIndexOf(":");
    const h = colon < 0 ? null : entry.slice(0, colon);
    const p = colon < 0 ? entry : entry.slice(colon + 1);
    const portOk = p === "*" || Number(p) === port;
    const hostOk = h === null || h === "*" ||
      (listen ? h === host || (host === "" && h === "localhost") : h === host);
    return portOk && hostOk;
  });
}
