/**
 * Helpers shared by the `tmosh connect` tests (tests/unit/connect_test.ts and
 * tests/interop/connect_stock_test.ts).
 * @module
 */

import assert from "node:assert/strict";
import {
  type ConnectOptions,
  parseConnectArgs,
} from "../client/bootstrap/connect_args.ts";

/** Parses `tmosh connect` arguments that must be valid. */
export function options(args: string[]): ConnectOptions {
  const parsed = parseConnectArgs(args);
  assert.equal(parsed.kind, "connect", JSON.stringify(parsed));
  return (parsed as { options: ConnectOptions }).options;
}

/** Runs `fn` and returns the message of the error it must throw. */
export async function rejection(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    const message = (e as Error).message;
    assert.match(message, /^tmosh: /);
    assert.doesNotMatch(message, /\n/);
    return message;
  }
  throw new Error("expected an error");
}

/** Writes a stand-in for main.ts (`connect ARGS` → connectMain) and returns its self command. */
export async function selfEntry(dir: string): Promise<string[]> {
  const entry = `${dir}/entry.ts`;
  const module =
    new URL("../client/bootstrap/connect.ts", import.meta.url).href;
  await Deno.writeTextFile(
    entry,
    `import { connectMain } from "${module}";\n` +
      `if (Deno.args[0] !== "connect") Deno.exit(2);\n` +
      `Deno.exit(await connectMain(Deno.args.slice(1), { runClient: () => Promise.resolve(3) }));\n`,
  );
  return [Deno.execPath(), "run", "-A", "--no-config", entry];
}
