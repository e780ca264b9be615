/**
 * Network namespaces for the jump-host tests: a client, a bastion with two
 * interfaces and a target, joined by veth pairs created directly inside the
 * namespaces (nothing is added to the host's own namespace). The client has
 * no route to the target and the bastion does not forward, so the only way
 * from client to target is through programs on the bastion. Unique names;
 * {@linkcode JumpNet.remove} deletes everything. Needs root and `ip`.
 * @module
 */

/** Addresses of a {@linkcode JumpNet}. */
export interface JumpNetAddrs {
  /** The client's address on the client–bastion link. */
  client: string;
  /** A second client address on the same link (to roam to). */
  client2: string;
  /** A third client address on the same link (for a stranger's packets). */
  stranger: string;
  /** An address on the client's loopback (for harness/jump_edge.ts). */
  edge: string;
  /** The bastion's address facing the client. */
  bastionOuter: string;
  /** The bastion's address facing the target. */
  bastionInner: string;
  /** The target's address. */
  target: string;
}

/** Three namespaces: client — bastion — target. */
export interface JumpNet {
  /** Namespace names. */
  ns: { client: string; bastion: string; target: string };
  /** Addresses. */
  addr: JumpNetAddrs;
  /** argv that runs `argv` inside namespace `ns`. */
  exec(ns: string, argv: string[]): string[];
  /** Deletes the namespaces (and with them the veths). */
  remove(): Promise<void>;
}

/** Why namespaces cannot be used here, or null if they can. */
export function netnsUnavailable(): string | null {
  return Deno.uid() === 0
    ? null
    : "tmosh test: network namespaces need root; run the test as root (CI does)";
}

/** The argv that runs `argv` inside namespace `ns`. */
export function netnsExec(ns: string, argv: string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}

/** Runs `ip ARGS`; throws with ip's stderr on failure. */
export async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `tmosh test: ip ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/**
 * Creates the three namespaces and their links; removes what it made if a
 * step fails. `routed` (benchmarks only) lets the bastion forward and gives
 * client and target routes through it, so the client can also reach the
 * target directly.
 */
export async function createJumpNet(
  options: { routed?: boolean } = {},
): Promise<JumpNet> {
  const id = crypto.randomUUID().slice(0, 8);
  const ns = {
    client: `tmosh-${id}-c`,
    bastion: `tmosh-${id}-b`,
    target: `tmosh-${id}-t`,
  };
  // 10.X.1.0/24 client side, 10.X.2.0/24 target side (private to the namespaces).
  const x = 16 + (parseInt(id.slice(0, 2), 16) % 200);
  const addr: JumpNetAddrs = {
    client: `10.${x}.1.2`,
    client2: `10.${x}.1.3`,
    stranger: `10.${x}.1.4`,
    edge: `10.${x}.9.1`,
    bastionOuter: `10.${x}.1.1`,
    bastionInner: `10.${x}.2.1`,
    target: `10.${x}.2.2`,
  };
  const made: string[] = [];
  const remove = async function remove(): Promise<void> {
    for (const name of made.splice(0)) {
      await ip(["netns", "del", name]).catch(() => {});
    }
  };
  try {
    for (const name of [ns.client, ns.bastion, ns.target]) {
      await ip(["netns", "add", name]);
      made.push(name);
      await ip(["-n", name, "link", "set", "lo", "up"]);
    }
    await link(ns.client, ns.bastion, "c");
    await link(ns.bastion, ns.target, "t");
    for (const a of [addr.client, addr.client2, addr.stranger]) {
      await ip(["-n", ns.client, "addr", "add", `${a}/24`, "dev", "veth-c"]);
    }
    await ip(["-n", ns.client, "addr", "add", `${addr.edge}/32`, "dev", "lo"]);
    await ip([
      "-n",
      ns.bastion,
      "addr",
      "add",
      `${addr.bastionOuter}/24`,
      "dev",
      "veth-c",
    ]);
    await ip([
      "-n",
      ns.bastion,
      "addr",
      "add",
      `${addr.bastionInner}/24`,
      "dev",
      "veth-t",
    ]);
    await ip([
      "-n",
      ns.target,
      "addr",
      "add",
      `${addr.target}/24`,
      "dev",
      "veth-t",
    ]);
    for (
      const [name, dev] of [
        [ns.client, "veth-c"],
        [ns.bastion, "veth-c"],
        [ns.bastion, "veth-t"],
        [ns.target, "veth-t"],
      ]
    ) {
      await ip(["-n", name, "link", "set", dev, "up"]);
    }
    if (options.routed) {
      await ip([
        "netns",
        "exec",
        ns.bastion,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
      ]);
      const via = (name: string, net: string, gw: string) =>
        ip(["-n", name, "route", "add", net, "via", gw]);
      await via(ns.client, `10.${x}.2.0/24`, addr.bastionOuter);
      await via(ns.target, `10.${x}.1.0/24`, addr.bastionInner);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    ns,
    addr,
    exec: netnsExec,
    remove,
  };
}

/** A veth pair `veth-<tag>` between namespaces `a` and `b`, made inside them. */
async function link(a: string, b: string, tag: string): Promise<void> {
  await ip([
    "link",
    "add",
    "tmp0",
    "netns",
    a,
    "type",
    "veth",
    "peer",
    "name",
    "tmp1",
    "netns",
    b,
  ]);
  await ip(["-n", a, "link", "set", "tmp0", "name", `veth-${tag}`]);
  await ip(["-n", b, "link", "set", "tmp1", "name", `veth-${tag}`]);
}

/** Names of the network namespaces that exist now. */
export async function namespaces(): Promise<string[]> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "list"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) =>
    l.split(" ")[0]
  ).filter((l) => l !== "");
}
