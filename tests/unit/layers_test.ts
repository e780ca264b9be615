/**
 * The layers test: every relative import in the tree must point down the
 * stack (docs/architecture.md §2, "Layers"). A module may import its own folder
 * and the folders its layer lists below; anything else fails, with the
 * offending file and import named.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Each layer (a folder or a top-level module, longest prefix wins) and the
 * layers it may import besides itself. Order in Mosh's terms: crypto and
 * protobufs at the bottom, then network (SSP) and terminal, then statesync;
 * client and server above protocol; demo, harness and tests on top.
 */
export const LAYERS: Record<string, string[]> = {
  "protocol/crypto/": [],
  "protocol/protobufs/": [],
  "protocol/network/": ["protocol/crypto/", "protocol/protobufs/", "libc.ts"],
  "protocol/terminal/": [],
  "protocol/statesync/": ["protocol/terminal/", "protocol/protobufs/"],
  "client/prediction/": ["protocol/terminal/", "client/client_args.ts"],
  "client/bootstrap/": [
    "protocol/crypto/",
    "protocol/network/ip_syntax.ts",
    "client/client_args.ts",
    "self_command.ts",
    "stdio.ts",
    "version.ts",
  ],
  "client/": [
    "client/prediction/",
    "client/bootstrap/",
    "protocol/",
    "version.ts",
    "stdio.ts",
    "secrets.ts",
    "libc.ts",
  ],
  "server/": [
    "protocol/",
    "version.ts",
    "self_command.ts",
    "stdio.ts",
    "libc.ts",
    "secrets.ts",
  ],
  "demo/": ["client/", "protocol/", "self_command.ts"],
  "main.ts": [
    "client/",
    "server/",
    "demo/",
    "version.ts",
    "protocol/network/os_error.ts",
    "secrets.ts",
  ],
  "version.ts": [],
  "secrets.ts": ["libc.ts"],
  "libc.ts": [],
  "self_command.ts": [],
  "stdio.ts": [],
  "tools/": ["self_command.ts", "protocol/", "harness/"],
  "harness/": [
    "protocol/",
    "client/",
    "server/",
    "demo/",
    "libc.ts",
    "self_command.ts",
  ],
  "bench/": [
    "protocol/",
    "client/",
    "server/",
    "demo/",
    "harness/",
    "self_command.ts",
  ],
  "tests/": [
    "protocol/",
    "client/",
    "server/",
    "demo/",
    "harness/",
    "main.ts",
    "version.ts",
    "self_command.ts",
    "secrets.ts",
    "libc.ts",
  ],
};

/** The layer a repository-relative path belongs to (longest matching prefix), or null. */
function layerOf(path: string): string | null {
  let best: string | null = null;
  for (const layer of Object.keys(LAYERS)) {
    const match = layer.endsWith("/") ? path.startsWith(layer) : path === layer;
    if (match && (best === null || layer.length > best.length)) best = layer;
  }
  return best;
}

/** Whether a module at `from` may import the module at `to` (repository-relative paths). */
export function importAllowed(from: string, to: string): boolean {
  const layer = layerOf(from);
  if (layer === null) return false;
  if (layerOf(to) === layer) return true;
  return LAYERS[layer].some((p) =>
    p.endsWith("/") ? to.startsWith(p) : to === p
  );
}

/** The relative specifiers a module's source imports (static, dynamic, re-exports). */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\s+["']([^"']+)["']/g,
  ];
  for (const re of patterns) {
    for (const m of source.matchAll(re)) {
      if (m[1].startsWith(".")) found.push(m[1]);
    }
  }
  return found;
}

/** Every TypeScript module of the project (not node_modules or generated test data). */
function projectModules(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(join(ROOT, dir))) {
      const rel = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.name.startsWith(".") || rel === "node_modules") continue;
      if (rel === "tests/data" || rel === "dist") continue;
      if (e.isDirectory) walk(rel);
      else if (e.isFile && rel.endsWith(".ts")) out.push(rel);
    }
  };
  walk("");
  return out.sort();
}

/** The imports in the tree that break the layering, as "from -> to" lines. */
function violations(): string[] {
  const bad: string[] = [];
  for (const file of projectModules()) {
    const source = Deno.readTextFileSync(join(ROOT, file));
    for (const spec of importsOf(source)) {
      const to = relative(ROOT, resolve(ROOT, dirname(file), spec));
      if (!importAllowed(file, to)) bad.push(`${file} -> ${to}`);
    }
  }
  return bad;
}

Deno.test("layers: every module of the tree belongs to a layer", () => {
  const orphans = projectModules().filter((f) => layerOf(f) === null);
  assert.deepEqual(orphans, []);
});

Deno.test("layers: no import points up the stack", () => {
  assert.deepEqual(violations(), []);
});

Deno.test("layers: wrong imports are caught", () => {
  // Each of these is an import the tree must never have.
  const wrong: [string, string][] = [
    [
      "protocol/terminal/emulator.ts",
      "protocol/statesync/complete_terminal.ts",
    ],
    ["protocol/terminal/display.ts", "protocol/network/connection.ts"],
    ["protocol/statesync/user_stream.ts", "protocol/network/transport.ts"],
    ["protocol/crypto/ocb.ts", "protocol/network/constants.ts"],
    ["protocol/network/transport.ts", "protocol/statesync/user_stream.ts"],
    ["protocol/network/connection.ts", "client/session.ts"],
    ["protocol/protobufs/messages.ts", "server/session.ts"],
    ["protocol/terminal/emulator.ts", "demo/impairment_relay.ts"],
    ["client/session.ts", "server/pty.ts"],
    ["server/session.ts", "client/prediction/engine.ts"],
    ["client/prediction/engine.ts", "client/session.ts"],
    ["protocol/statesync/complete_terminal.ts", "harness/wire_client.ts"],
    ["main.ts", "harness/tmux.ts"],
  ];
  for (const [from, to] of wrong) {
    assert.equal(importAllowed(from, to), false, `${from} -> ${to}`);
  }
  // And these are the stack as it should be.
  const right: [string, string][] = [
    ["protocol/statesync/complete_terminal.ts", "protocol/terminal/display.ts"],
    ["protocol/network/datagram.ts", "protocol/crypto/ocb.ts"],
    ["client/session.ts", "protocol/network/transport.ts"],
    ["tests/unit/ocb_test.ts", "protocol/crypto/ocb.ts"],
  ];
  for (const [from, to] of right) {
    assert.equal(importAllowed(from, to), true, `${from} -> ${to}`);
  }
  assert.deepEqual(
    importsOf(
      'import { a } from "./a.ts";\nexport { b } from "../b.ts";\n' +
        'const m = await import("./c.ts");\nimport "./d.ts";\n' +
        'import type {\n  E,\n} from "./e.ts";\nimport x from "npm:x";\n',
    ).sort(),
    ["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./e.ts"],
  );
});
