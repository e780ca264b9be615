/**
 * tmosh: the mobile shell (Mosh 1.4 wire-compatible), client and server in one program.
 * This module only parses the command line and hands over to `client/` or `server/`.
 * @module
 */
import type { Command } from "commander";
import { errorText } from "./protocol/network/os_error.ts";
import { TMOSH_VERSION } from "./version.ts";
import { disableCoreDumpsOnce } from "./secrets.ts";

/** A subcommand: its name, one-line summary and entry point taking the raw words after it. */
interface Subcommand {
  name: string;
  summary: string;
  run: (args: string[]) => Promise<number>;
  /** Disables core dumps itself, once a key can exist (off the path to the prompt); else main does, first thing. */
  coreDumpsItself?: true;
}

/** Every subcommand; each parses its own arguments with the contract it mirrors. */
const SUBCOMMANDS: Subcommand[] = [
  {
    name: "connect",
    summary:
      "connect to [user@]host over ssh, like mosh: tmosh connect [options] [--name NAME] [user@]host [-- command...]; resume a session: tmosh connect --attach[=ID|NAME] [user@]host",
    run: async (args) => {
      // The session (xterm, protobuf, ...) and the terminal's capabilities
      // load once ssh is started, while it starts the server: loading them
      // earlier holds ssh's start back (docs/architecture.md §12.4). The
      // --fake-proxy run (on ssh's critical path) never needs them.
      let session: Promise<typeof import("./client/session.ts")> | null = null;
      const prepare = () => {
        if (session !== null) return;
        // Called as ssh starts, before its output (the key) is read; the
        // --fake-proxy run never holds a key.
        disableCoreDumpsOnce();
        session = import("./client/session.ts");
        session.catch(() => {}); // reported when runClient awaits it
        session.then((m) => m.prefetchTerminalCaps()).catch(() => {});
      };
      const { connectMain } = await import("./client/bootstrap/connect.ts");
      return await connectMain(args, {
        prepare,
        runClient: async (options) => {
          prepare();
          return (await session!).runClient(options);
        },
      });
    },
    coreDumpsItself: true,
  },
  {
    name: "sessions",
    summary:
      "your sessions on a host (over ssh): tmosh sessions [--json] [user@]host",
    run: async (args) => {
      const { sessionsMain } = await import(
        "./client/bootstrap/sessions_cli.ts"
      );
      return await sessionsMain(args, { command: "sessions" });
    },
  },
  {
    name: "kill",
    summary:
      "end a session on a host (over ssh): tmosh kill [user@]host ID|NAME|--detached",
    run: async (args) => {
      const { sessionsMain } = await import(
        "./client/bootstrap/sessions_cli.ts"
      );
      return await sessionsMain(args, { command: "kill" });
    },
  },
  {
    name: "serve",
    summary:
      "run a Mosh server: tmosh serve new [-s] [-v] [-i IP] [-p PORT[:PORT2]] [-c COLORS] [-l NAME=VALUE] [--name NAME] [-- command...]; list its sessions: tmosh serve list [--json]; end one: tmosh serve kill ID|NAME|--detached",
    run: async (args) => {
      const { serve } = await import("./server/serve.ts");
      return await serve(args);
    },
    coreDumpsItself: true,
  },
  {
    name: "client",
    summary:
      "the mosh-client contract: MOSH_KEY=KEY tmosh client [-# ARGS] IP PORT",
    run: async (args) => {
      const { clientMain } = await import("./client/client_args.ts");
      const { runClient } = await import("./client/session.ts");
      return await clientMain(args, { runClient });
    },
  },
  {
    name: "demo",
    summary:
      "a local session through an impairment relay, no ssh: tmosh demo [--delay MS] [--jitter MS] [--loss P] [-- command...]",
    run: async (args) => {
      const { demoMain } = await import("./demo/demo.ts");
      return await demoMain(args);
    },
  },
];

/** Builds the command-line parser with every subcommand tmosh offers. */
export async function buildProgram(): Promise<Command> {
  const { Command } = await import("commander");
  const program = new Command("tmosh");
  program
    .description(
      "the mobile shell: a Mosh 1.4 compatible client and server in one program",
    )
    .version(`tmosh ${TMOSH_VERSION}`, "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      outputError: (text, write) =>
        write(`tmosh: ${text.replace(/^error: /, "")}`),
    })
    .showHelpAfterError("(run tmosh --help for usage)")
    .enablePositionalOptions();
  // Listed for --help and `tmosh help`; main() hands their words over before parsing.
  for (const sub of SUBCOMMANDS) {
    program.command(sub.name).description(sub.summary).argument("[args...]");
  }
  return program;
}

/** Runs the command line and returns the process exit status. */
export async function main(args: string[]): Promise<number> {
  // A subcommand parses its own words (each mirrors a Mosh contract), so the
  // long-running server and client never load the top-level parser.
  const sub = SUBCOMMANDS.find((s) => s.name === args[0]);
  if (sub !== undefined) {
    // Before any session key exists in this process (client, demo), as
    // mosh-client and mosh-server do first thing in main.
    if (!sub.coreDumpsItself) disableCoreDumpsOnce();
    return await sub.run(args.slice(1));
  }
  const program = await buildProgram();
  const { CommanderError } = await import("commander");
  if (args.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === "commander.helpDisplayed" || e.code === "commander.help" ||
        e.code === "commander.version"
      ) {
        return 0;
      }
      return e.exitCode || 2;
    }
    console.error(`tmosh: ${errorText(e)}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
