/** The host's sshd forwarding policy as tmosh serve reads it (server/sshd_policy.ts). */
import assert from "node:assert/strict";
import {
  listenAddress,
  prefetchPolicy,
  readPolicy,
  refuseAgent,
  refuseListen,
  refuseOpen,
} from "../../server/sshd_policy.ts";

async function policyOf(text: string, user = "alice") {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/sshd_config`;
  await Deno.writeTextFile(path, text.replaceAll("DIR", dir));
  await Deno.mkdir(`${dir}/conf.d`);
  await Deno.writeTextFile(
    `${dir}/conf.d/10-x.conf`,
    "GatewayPorts clientspecified\n",
  );
  const p = readPolicy(user, { TMOSH_SSHD_CONFIG: path });
  await Deno.remove(dir, { recursive: true });
  return { p, path };
}

Deno.test("sshd policy: defaults allow everything on loopback", async () => {
  const { p } = await policyOf("# nothing\n");
  assert.equal(refuseOpen(p, { host: "h", port: 1 }), null);
  assert.equal(refuseListen(p, "", 8000), null);
  assert.equal(refuseAgent(p), null);
  assert.equal(listenAddress(p, "0.0.0.0"), "127.0.0.1");
});

Deno.test("sshd policy: first value wins, Match User applies, Include is read", async () => {
  const { p, path } = await policyOf(
    [
      "AllowTcpForwarding local",
      "AllowTcpForwarding yes",
      "Include PLACEHOLDER",
      "Match User alice",
      "  AllowAgentForwarding no",
      "  PermitOpen db:5432",
      "Match User bob",
      "  AllowStreamLocalForwarding no",
    ].join("\n").replace("PLACEHOLDER", "DIR/conf.d/*.conf"),
  );
  assert.equal(p.gatewayPorts, "clientspecified");
  assert.equal(
    refuseListen(p, "", 80),
    `AllowTcpForwarding local in ${path}`,
  );
  assert.equal(refuseAgent(p), `AllowAgentForwarding no in ${path}`);
  assert.equal(refuseOpen(p, { host: "db", port: 5432 }), null);
  assert.equal(
    refuseOpen(p, { host: "web", port: 80 }),
    `PermitOpen in ${path} does not list web:80`,
  );
  assert.equal(refuseOpen(p, { path: "/s" }), null);
  // Bob's block does not apply to alice, and applies to bob.
  const bob = (await policyOf(
    "Match User bob,carol\nAllowStreamLocalForwarding no\n",
    "bob",
  )).p;
  assert.match(
    refuseOpen(bob, { path: "/s" })!,
    /^AllowStreamLocalForwarding no in /,
  );
});

Deno.test("sshd policy: GatewayPorts and PermitListen", async () => {
  const { p } = await policyOf(
    "GatewayPorts clientspecified\nPermitListen 9000 localhost:9001\n",
  );
  assert.equal(listenAddress(p, ""), "127.0.0.1");
  assert.equal(listenAddress(p, "*"), "0.0.0.0");
  assert.equal(listenAddress(p, "192.0.2.1"), "192.0.2.1");
  assert.equal(refuseListen(p, "", 9000), null);
  assert.equal(refuseListen(p, "", 9001), null);
  assert.match(
    refuseListen(p, "", 9002)!,
    /PermitListen in .* does not allow port 9002/,
  );
  const off = (await policyOf("AllowTcpForwarding no\n")).p;
  assert.match(
    refuseOpen(off, { host: "h", port: 1 })!,
    /^AllowTcpForwarding no in /,
  );
});

Deno.test("sshd policy: prefetchPolicy gives what readPolicy reads, before and after its background run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sshd_config`;
    await Deno.writeTextFile(
      path,
      "AllowTcpForwarding local\nAllowAgentForwarding no\nPermitOpen h:1\n",
    );
    // A file of our own, and the host's (which sshd -T evaluates when root).
    for (
      const env of [{ TMOSH_SSHD_CONFIG: path, USER: "alice" }, {
        USER: "root",
      }]
    ) {
      const want = readPolicy(env.USER, env);
      assert.deepEqual(prefetchPolicy(env)(), want, "read at once");
      const later = prefetchPolicy(env);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.deepEqual(later(), want, "from the background run");
    }
    const own = prefetchPolicy({ TMOSH_SSHD_CONFIG: path, USER: "alice" })();
    assert.equal(own.tcp, "local");
    assert.equal(own.agent, false);
    assert.deepEqual(own.permitOpen, ["h:1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
