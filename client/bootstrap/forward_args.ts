/**
 * The forwarding options of `tmosh connect`, spelled as OpenSSH's (ssh(1)):
 * `-L [bind:]port:host:hostport`, `-L [bind:]port:/remote/socket`,
 * `-L /local/socket:host:hostport`, `-R [bind:]port:host:hostport`,
 * `-D [bind:]port`, `-A`, `-W host:port`. Parsed without side effects; each
 * error is one line.
 * @module
 */

/** Where a local listener binds: an address and port, or a Unix socket path. */
export type ListenSpec = { bind: string | null; port: number } | {
  path: string;
};

/** Where a connection goes: a host and port, or a Unix socket path. */
export type TargetSpec = { host: string; port: number } | { path: string };

/** One -L (target set) or -D (target null: SOCKS) listener on the client. */
export interface LocalForward {
  /** The option as given, for messages. */
  spec: string;
  listen: ListenSpec;
  /** null: dynamic (-D), the SOCKS request names the target. */
  target: TargetSpec | null;
}

/** One -R: the server listens, connections come to `target` here. */
export interface RemoteForward {
  spec: string;
  /** Requested bind address ("" when not given: loopback, as sshd). */
  bind: string;
  port: number;
  target: TargetSpec;
}

/** Every forwarding a session asked for. */
export interface ForwardRequest {
  local: LocalForward[];
  remote: RemoteForward[];
  /** -A: agent forwarding. */
  agent: boolean;
  /** -W host:port: stdin/stdout to a remote port, no terminal. */
  stdio: { host: string; port: number } | null;
}

/** No forwarding. */
export const NO_FORWARDS: ForwardRequest = Object.freeze({
  local: [],
  remote: [],
  agent: false,
  stdio: null,
});

/** Whether `request` asks for anything. */
export function wantsForwarding(request: ForwardRequest | undefined): boolean {
  return request !== undefined &&
    (request.local.length > 0 || request.remote.length > 0 ||
      request.agent || request.stdio !== null);
}

/** Splits on `:` outside `[...]`, dropping the brackets of IPv6 addresses. */
function fields(spec: string): string[] | null {
  const out: string[] = [];
  let cur = "";
  let bracket = false;
  for (const ch of spec) {
    if (ch === "[" && !bracket && cur === "") bracket = true;
    else if (ch === "]" && bracket) bracket = false;
    else if (ch === ":" && !bracket) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (bracket) return null;
  out.push(cur);
  return out;
}

function port(text: string, allowZero: boolean): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n > 65535 || (n === 0 && !allowZero) ? null : n;
}

function target(host: string, hostport: string): TargetSpec | null {
  const p = port(hostport, false);
  return p === null || host === "" ? null : { host, port: p };
}

const isPath = (s: string) => s.startsWith("/");

/** Parses one -L (or -D with `dynamic`); returns the forward or an error line. */
export function parseLocalForward(
  spec: string,
  dynamic = false,
): LocalForward | string {
  const bad = (what: string) =>
    `tmosh: bad ${dynamic ? "-D" : "-L"} "${spec}": ${what}`;
  const f = fields(spec);
  if (f === null) return bad("unbalanced [ ]");
  if (dynamic) {
    if (f.length > 2) return bad("expected [bind:]port");
    const p = port(f[f.length - 1], true);
    if (p === null) return bad("the port must be 0..65535");
    return {
      spec,
      listen: { bind: f.length === 2 ? f[0] : null, port: p },
      target: null,
    };
  }
  // /local/socket:...
  if (isPath(f[0])) {
    const rest = f.slice(1);
    if (rest.length === 1 && isPath(rest[0])) {
      return { spec, listen: { path: f[0] }, target: { path: rest[0] } };
    }
    const t = rest.length === 2 ? target(rest[0], rest[1]) : null;
    if (t === null) return bad("expected /local/socket:host:hostport");
    return { spec, listen: { path: f[0] }, target: t };
  }
  // [bind:]port:/remote/socket
  if (isPath(f[f.length - 1]) && (f.length === 2 || f.length === 3)) {
    const p = port(f[f.length - 2], true);
    if (p === null) return bad("the port must be 0..65535");
    return {
      spec,
      listen: { bind: f.length === 3 ? f[0] : null, port: p },
      target: { path: f[f.length - 1] },
    };
  }
  if (f.length !== 3 && f.length !== 4) {
    return bad("expected [bind:]port:host:hostport");
  }
  const p = port(f[f.length - 3], true);
  if (p === null) return bad("the port must be 0..65535");
  const t = target(f[f.length - 2], f[f.length - 1]);
  if (t === null) return bad("expected host:hostport with hostport 1..65535");
  return {
    spec,
    listen: { bind: f.length === 4 ? f[0] : null, port: p },
    target: t,
  };
}

/** Parses one -R; returns the forward or an error line. */
export function parseRemoteForward(spec: string): RemoteForward | string {
  const bad = (what: string) => `tmosh: bad -R "${spec}": ${what}`;
  const f = fields(spec);
  if (f === null) return bad("unbalanced [ ]");
  if (f.length < 2) {
    return bad(
      "expected [bind:]port:host:hostport (remote SOCKS is not supported)",
    );
  }
  if (isPath(f[f.length - 1])) {
    const p = port(f[f.length - 2], true);
    if (p === null || f.length > 3) {
      return bad("expected [bind:]port:/local/socket");
    }
    return {
      spec,
      bind: f.length === 3 ? f[0] : "",
      port: p,
      target: { path: f[f.length - 1] },
    };
  }
  if (f.length !== 3 && f.length !== 4) {
    return bad("expected [bind:]port:host:hostport");
  }
  const p = port(f[f.length - 3], true);
  if (p === null) return bad("the port must be 0..65535");
  const t = target(f[f.length - 2], f[f.length - 1]);
  if (t === null) return bad("expected host:hostport with hostport 1..65535");
  return { spec, bind: f.length === 4 ? f[0] : "", port: p, target: t };
}

/** Parses -W host:port; returns it or an error line. */
export function parseStdioForward(
  spec: string,
): { host: string; port: number } | string {
  const f = fields(spec);
  const t = f !== null && f.length === 2 ? target(f[0], f[1]) : null;
  if (t === null || "path" in t) {
    return `tmosh: bad -W "${spec}": expected host:port`;
  }
  return t;
}

/** Builds the request from the option values (in order given); returns it or an error line. */
export function parseForwards(values: {
  L?: string[];
  R?: string[];
  D?: string[];
  A?: boolean;
  W?: string;
}): ForwardRequest | string {
  const local: LocalForward[] = [];
  for (const s of values.L ?? []) {
    const r = parseLocalForward(s);
    if (typeof r === "string") return r;
    local.push(r);
  }
  for (const s of values.D ?? []) {
    const r = parseLocalForward(s, true);
    if (typeof r === "string") return r;
    local.push(r);
  }
  const remote: RemoteForward[] = [];
  for (const s of values.R ?? []) {
    const r = parseRemoteForward(s);
    if (typeof r === "string") return r;
    remote.push(r);
  }
  let stdio = null;
  if (values.W !== undefined) {
    const r = parseStdioForward(values.W);
    if (typeof r === "string") return r;
    stdio = r;
  }
  return { local, remote, agent: values.A ?? false, stdio };
}

/** How a listen spec reads in messages. */
export function describeListen(l: ListenSpec): string {
  return "path" in l ? l.path : `${l.bind ?? "localhost"}:${l.port}`;
}

/** How a target reads in messages (and on the wire: `host:port`, `[v6]:port` or a path). */
export function describeTarget(t: TargetSpec): string {
  if ("path" in t) return t.path;
  return t.host.includes(":") ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/**
 * Tries to bind every -L/-D listener and closes it again, so a port in use
 * is refused before ssh even starts; returns the one-line reason, or null.
 */
export function checkListenable(
  request: ForwardRequest | undefined,
): string | null {
  for (const l of request?.local ?? []) {
    if ("path" in l.listen) continue;
    try {
      Deno.listen({ hostname: listenHost(l.listen.bind), port: l.listen.port })
        .close();
    } catch (err) {
      const why = (err as Error).message.replace(/ \(os error \d+\)$/, "");
      return `tmosh: ${
        l.target === null ? "-D" : "-L"
      } ${l.spec}: cannot listen on ${
        describeListen(l.listen)
      }: ${why}; choose another port`;
    }
  }
  return null;
}

/** The address a local listener binds: loopback unless a bind address is given (`*` or empty: every address). */
export function listenHost(bind: string | null): string {
  if (bind === null || bind === "localhost") return "127.0.0.1";
  return bind === "*" || bind === "" ? "0.0.0.0" : bind;
}
