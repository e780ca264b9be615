/**
 * `deno task bench`: runs every benchmark and prints its figures.
 * @module
 */

const modules = [
  ["crypto", "./crypto_bench.ts", "benchCrypto"],
  ["fragments", "./fragment_bench.ts", "benchFragment"],
  ["display", "./display_bench.ts", "benchDisplay"],
  ["transport", "./transport_bench.ts", "benchTransport"],
  ["prediction (simulated)", "./prediction_bench.ts", "benchPrediction"],
  [
    "keystrokes (tmux, relay, vs stock mosh-client)",
    "./keystroke_bench.ts",
    "benchKeystrokes",
  ],
  [
    "connect (loopback sshd, vs stock mosh)",
    "./connect_bench.ts",
    "benchConnect",
  ],
  ["serve (vs stock mosh-server)", "./serve_bench.ts", "benchServe"],
  [
    "jump host (namespaces: relay vs direct, stock mosh, ssh -J)",
    "./jump_bench.ts",
    "benchJump",
  ],
  [
    "attach (loopback sshd, vs a fresh connect)",
    "./attach_bench.ts",
    "benchAttach",
  ],
  [
    "install (loopback sshd, bare account, vs stock mosh)",
    "./install_bench.ts",
    "benchInstall",
  ],
  [
    "scrollback (tmux, vs stock mosh and ssh)",
    "./scrollback_bench.ts",
    "benchScrollback",
  ],
  [
    "port forwarding (-L vs ssh -L, loss, keystrokes during a transfer)",
    "./forward_bench.ts",
    "benchForward",
  ],
  [
    "port forwarding on a lossy path (TUN pair: ssh -L and tmosh -L measured alike)",
    "./forward_loss_bench.ts",
    "benchForwardLoss",
  ],
  [
    "light (start, idle CPU and wake-ups, memory, flood, 10 sessions; vs stock mosh and ssh)",
    "./light_bench.ts",
    "benchLight",
  ],
] as const;

for (const [name, path, fn] of modules) {
  console.log(`\n== ${name} ==`);
  const mod = await import(path);
  await mod[fn]();
}
