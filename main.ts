/**
 * tmosh: the mobile shell (Mosh 1.4 wire-compatible), client and server in one program.
 * This module only parses the command line and hands over to `client/` or `server/`.
 * @module
 */
import { Command, CommanderError } from "commander";
import { TMOSH_VERSION } from "./protocol/constants.ts";

/** Builds the command-line parser with every subcommand tmosh offers. */
export function buildProgram(): Command {
  const program = new Command("tmosh");
  program
    .description(
      "the mobile shell: a Mosh 1.4 compatible client and server in one program",
    )
    .version(`tmosh ${TMOSH_VERSION}`, "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`tmosh: ${text.replace(/^error: /, "")}`),
    });
  return program;
}

/** Runs the command line and returns the process exit status. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") {
        return 0;
      }
      return e.exitCode || 2;
    }
    console.error(`tmosh: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
