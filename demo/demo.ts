/**
 * `tmosh demo`: a complete local session with no ssh. Starts `tmosh serve` on
 * 127.0.0.1, puts an impairment relay (delay, jitter, loss, reordering,
 * duplication) between client and server, and connects the client through it.
 * @module
 */
import { parseArgs } from "node:util";
import { selfCommand } from "../self_command.ts";
import { bootstrap, shellQuote } from "../client/bootstrap/connect.ts";
import type { ConnectOptions } from "../client/bootstrap/connect_args.ts";
import {
  chooseScrollback,
  clientEnvOptions,
  isPredictMode,
  type PredictMode,
  type ScrollbackMode,
} from "../client/client_args.ts";
import { Relay } from "./impairment_relay.ts";
import { runClient } from "../client/session.ts";

/** Names the process whose end ends the server (server/owner.ts, which the demo layer may not import). */
const OWNER_PID_VAR = "TMOSH_OWNER_PID";

/** Usage of `tmosh demo`. */
export const DEMO_USAGE =
  "Usage: tmosh demo [--delay MS] [--jitter MS] [--loss P] [--reorder P] " +
  "[--duplicate P] [--predict MODE] [--scrollback native|off] [-- command...]";

/** Parsed demo options. */
export interface DemoOptions {
  /** One-way delay each way, ms. */
  delayMs: number;
  /** Extra random delay up to this, ms. */
  jitterMs: number;
  /** Loss probability each way, 0..1. */
  loss: number;
  /** Reordering probability each way, 0..1. */
  reorder: number;
  /** Duplication probability each way, 0..1. */
  duplicate: number;
  /** Local echo mode. */
  predict: PredictMode;
  /** Native scrollback (`--scrollback`, else TMOSH_SCROLLBACK, else "native"). */
  scrollback: ScrollbackMode;
  /** Command to run instead of the login shell. */
  command: string[];
}

/** Parses `tmosh demo` arguments; returns the options or a one-line error. */
export function parseDemoArgs(args: string[]): DemoOptions | string {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        delay: { type: "string" },
        jitter: { type: "string" },
        loss: { type: "string" },
        reorder: { type: "string" },
        duplicate: { type: "string" },
        predict: { type: "string" },
        scrollback: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return `tmosh demo: ${(e as Error).message}; see tmosh demo --help`;
  }
  const v = parsed.values;
  if (v.help) return DEMO_USAGE;
  const num = (name: string, text: string | undefined, max: number) => {
    if (text === undefined) return 0;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0 || n > max) {
      throw new Error(`tmosh demo: bad --${name} "${text}" (0..${max})`);
    }
    return n;
  };
  try {
    const predict = v.predict ?? Deno.env.get("MOSH_PREDICTION_DISPLAY") ??
      "adaptive";
    if (!isPredictMode(predict)) {
      return `tmosh demo: unknown prediction mode "${predict}" (adaptive, always, never, experimental)`;
    }
    const scrollback = chooseScrollback(v.scrollback, Deno.env.toObject());
    if ("error" in scrollback) {
      return scrollback.error.replace(/^tmosh: /, "tmosh demo: ");
    }
    return {
      delayMs: num("delay", v.delay, 60000),
      jitterMs: num("jitter", v.jitter, 60000),
      loss: num("loss", v.loss, 1),
      reorder: num("reorder", v.reorder, 1),
      duplicate: num("duplicate", v.duplicate, 1),
      predict,
      scrollback: scrollback.mode,
      command: parsed.positionals,
    };
  } catch (e) {
    return (e as Error).message;
  }
}

/** Runs `tmosh demo`; resolves to the exit status. */
export async function demoMain(args: string[]): Promise<number> {
  const parsed = parseDemoArgs(args);
  if (typeof parsed === "string") {
    const isHelp = parsed === DEMO_USAGE;
    (isHelp ? console.log : console.error)(parsed);
    return isHelp ? 0 : 2;
  }
  const options: ConnectOptions = {
    userhost: "127.0.0.1",
    command: parsed.command,
    client: null,
    ssh: ["ssh"],
    server: `${shellQuote(selfCommand())} serve`,
    predict: parsed.predict,
    predictOverwrite: false,
    scrollback: parsed.scrollback,
    family: "inet",
    port: null,
    bindServer: "127.0.0.1",
    sshPty: false,
    init: true,
    local: true,
    remoteIp: "local",
  };
  let endpoint;
  try {
    // The server is ours: it ends when this process ends, however it ends
    // (quit, SIGHUP, SIGTERM, SIGINT, SIGKILL); see server/owner.ts.
    endpoint = await bootstrap(options, {
      env: { [OWNER_PID_VAR]: String(Deno.pid) },
    });
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
  const relay = await Relay.start({
    listen: { hostname: "127.0.0.1" },
    upstream: { hostname: endpoint.ip, port: endpoint.port },
    delayMs: parsed.delayMs,
    jitterMs: parsed.jitterMs,
    loss: parsed.loss,
    reorder: parsed.reorder,
    duplicate: parsed.duplicate,
  });
  try {
    return await runClient({
      ...clientEnvOptions(Deno.env.toObject()),
      ip: "127.0.0.1",
      port: relay.port,
      key: endpoint.key,
      predict: parsed.predict,
      scrollback: parsed.scrollback,
      verbose: false,
    }, { ownsServer: true });
  } finally {
    await relay.close();
  }
}
