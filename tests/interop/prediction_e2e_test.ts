/**
 * Local echo end to end: `tmosh client` in a real terminal (tmux, watched
 * through control mode) talks through the impairment relay at 250 ms each way
 * to a stock mosh-server running bash with a fixed prompt. The server cannot
 * echo a key sooner than 500 ms after it is typed, so whatever shows earlier
 * is tmosh's prediction.
 */
import assert from "node:assert/strict";
import { Relay } from "../../demo/impairment_relay.ts";
import { peers } from "../../harness/require_peer.ts";
import { tmoshCommand } from "../../harness/client_session.ts";
import {
  startStockServer,
  type StockServer,
} from "../../harness/stock_mosh.ts";
import {
  type Screen,
  startWatchedTmux,
  type WatchedTmux,
} from "../../harness/tmux_watch.ts";

/** The rig's peers: stock mosh-server, and tmux for the terminal. */
const rigPeers = peers("mosh-server", "tmux");

/** One-way delay of the relay, ms. */
const DELAY_MS = 250;
/** The server's echo cannot reach the screen sooner than this after a key, ms. */
const ROUND_TRIP_MS = 2 * DELAY_MS;
/** A prediction must show well before the echo could: within this many ms. */
const EARLY_MS = 300;
/** Gap between typed keys, ms (a brisk typist). */
const KEY_GAP_MS = 120;
/** After a prompt shows, wait this long before typing (the echo ack of Enter lags the prompt by up to one send interval, 250 ms). */
const REACTION_MS = 450;
/** SGR underline as tmux's capture-pane -e writes it. */
const UNDERLINE = /\x1b\[(?:[0-9;]*;)?4(?:;[0-9;]*)?m/;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A tmosh client in tmux, through a delaying relay, to a stock mosh-server running bash. */
interface Rig {
  term: WatchedTmux;
  close(): Promise<void>;
}

async function startRig(
  predict: string,
  delayMs = DELAY_MS,
): Promise<Rig> {
  const server: StockServer = await startStockServer({
    command: [
      "env",
      "PS1=$ ",
      "HISTFILE=/dev/null",
      "bash",
      "--norc",
      "--noprofile",
      "-i",
    ],
  });
  let relay: Relay | undefined;
  let term: WatchedTmux | undefined;
  const close = async () => {
    await term?.kill();
    await relay?.close();
    await server.stop();
  };
  try {
    relay = await Relay.start({
      upstream: { hostname: "127.0.0.1", port: server.port },
      delayMs,
    });
    term = await startWatchedTmux(
      `exec ${tmoshCommand(`client 127.0.0.1 ${relay.port}`)}`,
      {
        env: {
          MOSH_KEY: server.key,
          MOSH_PREDICTION_DISPLAY: predict,
          LANG: "C.UTF-8",
          TERM: "xterm-256color",
        },
      },
    );
    await waitPrompt(term, 30_000);
  } catch (error) {
    await close();
    throw error;
  }
  return { term, close };
}

/**
 * Runs `body` on a rig once a first command has come back at the prompt;
 * closes the rig afterwards.
 */
async function withRig(
  options: { predict: string; delayMs?: number },
  body: (term: WatchedTmux) => Promise<void>,
): Promise<void> {
  const rig = await startRig(options.predict, options.delayMs);
  try {
    await warmUp(rig.term);
    await body(rig.term);
  } finally {
    await rig.close();
  }
}

/** True if the cursor sits right after an empty "$ " prompt. */
function atPrompt(s: Screen): boolean {
  return s.rows[s.y] === "$" && s.x === 2;
}

/** Waits for an empty prompt below the current row (or anywhere, the first time). */
async function waitPrompt(term: WatchedTmux, timeoutMs = 10_000) {
  const row = atPrompt(term.screen()) ? term.screen().y : -1;
  await term.waitFor((s) => atPrompt(s) && s.y > row, timeoutMs);
  await sleep(REACTION_MS);
}

/** Types `text` one key every KEY_GAP_MS; returns each key's send time. */
async function typeText(term: WatchedTmux, text: string): Promise<number[]> {
  const sent: number[] = [];
  for (const ch of text) {
    sent.push(await term.sendKeys(ch, { literal: true }));
    await sleep(KEY_GAP_MS);
  }
  return sent;
}

/** Runs a command at the prompt and waits for the next prompt: shows the client echo works there. */
async function warmUp(term: WatchedTmux, command = "true"): Promise<void> {
  await typeText(term, command);
  await term.sendKeys("Enter");
  await waitPrompt(term);
}

/**
 * For each key of `text` typed on row `y` from column `x0`: ms from its send
 * until the screen first showed it (its character in place, cursor past it).
 */
function appearance(
  term: WatchedTmux,
  typed: { text: string; sent: number[]; y: number; x0: number },
): number[] {
  return [...typed.text].map((_, i) => {
    const want = typed.text.slice(0, i + 1);
    const shown = term.history.find((s) =>
      s.time >= typed.sent[i] &&
      s.rows[typed.y].padEnd(typed.x0 + want.length).slice(
          typed.x0,
          typed.x0 + want.length,
        ) === want &&
      s.y === typed.y && s.x >= typed.x0 + i + 1
    );
    return shown === undefined ? Infinity : shown.time - typed.sent[i];
  });
}

/** Row `y` of tmux's own screen, with SGR codes. */
async function coloredRow(term: WatchedTmux, y: number): Promise<string> {
  return (await term.capture({ colors: true })).split("\n")[y] ?? "";
}

rigPeers.test("prediction e2e: a typed word shows before the server could echo it, underlined until confirmed", async () => {
  await withRig({ predict: "adaptive" }, async (term) => {
    const { x: x0, y } = term.screen();
    const text = "echo hello";
    const sent = await typeText(term, text);
    // The last keys are still unconfirmed: tmux shows them underlined.
    const row = await coloredRow(term, y);
    const sinceLast = performance.now() - sent[sent.length - 1];
    assert.ok(sinceLast < ROUND_TRIP_MS, `checked ${sinceLast} ms after`);
    assert.match(row, UNDERLINE, `predicted cells underlined: ${row}`);
    assert.equal(row.replace(/\x1b\[[0-9;]*m/g, "").trimEnd(), "$ echo hello");
    const early = appearance(term, { text, sent, y, x0 });
    for (const [i, ms] of early.entries()) {
      assert.ok(
        ms < EARLY_MS,
        `key ${i} (${JSON.stringify(text[i])}) showed after ${ms} ms; ` +
          `the echo takes at least ${ROUND_TRIP_MS} ms`,
      );
    }
    // The echo confirms the predictions: same text, no underline left.
    await sleep(ROUND_TRIP_MS + 1000);
    const confirmed = await coloredRow(term, y);
    assert.doesNotMatch(confirmed, UNDERLINE, confirmed);
    assert.equal(term.screen().rows[y], "$ echo hello");
    await term.sendKeys("Enter");
    await term.waitFor((s) => s.rows[y + 1] === "hello", 5000);
  });
});

rigPeers.test("prediction e2e: below the flag threshold (20 ms each way) predictions show without underline", async () => {
  const fast = 20;
  await withRig({ predict: "always", delayMs: fast }, async (term) => {
    // The round-trip estimate starts from the session's first exchanges,
    // which a loaded machine slows (code still loading on both sides); a few
    // more round trips bring it down to the link's 40 ms, the premise here.
    for (let i = 0; i < 3; i++) await warmUp(term);
    const { x: x0, y } = term.screen();
    const text = "echo fast";
    const sent = await typeText(term, text);
    await term.waitFor((s) => s.rows[y] === "$ echo fast", 5000);
    let early = 0;
    for (const [i, ms] of appearance(term, { text, sent, y, x0 }).entries()) {
      if (ms >= 2 * fast) continue;
      early++;
      const shown = term.history.find((s) => s.time === sent[i] + ms)!;
      assert.equal(
        shown.underlined[y] ?? "",
        "",
        `key ${i} shown after ${ms} ms, underlined`,
      );
    }
    assert.ok(early >= text.length / 2, `${early} keys predicted`);
  });
});

rigPeers.test("prediction e2e: with stty -echo the predicted characters vanish and leave nothing behind", async () => {
  await withRig({ predict: "adaptive" }, async (term) => {
    await warmUp(term, "stty -echo");
    const before = term.screen();
    const { x: x0, y } = before;
    const sent = await typeText(term, "xyz");
    // The prompt is trusted, so tmosh shows the first key at once...
    const [shownX] = appearance(term, { text: "x", sent, y, x0 });
    assert.ok(shownX < EARLY_MS, `"x" showed after ${shownX} ms`);
    // ...and takes it back about one round trip later, when no echo came.
    const gone = await term.waitFor(
      (s) => s.time > sent[0] + shownX && s.rows[y] === "$" && s.x === x0,
      5000,
    );
    const shownFor = gone.time - sent[0];
    assert.ok(
      shownFor < ROUND_TRIP_MS + 1000,
      `predictions stayed ${shownFor} ms`,
    );
    assert.ok(shownFor >= ROUND_TRIP_MS, `vanished after ${shownFor} ms`);
    // Nothing is left behind, in the model or on tmux's own screen.
    await sleep(ROUND_TRIP_MS + 500);
    assert.deepEqual(term.screen().rows, before.rows);
    assert.deepEqual([term.screen().x, term.screen().y], [x0, y]);
    const real = (await term.capture()).split("\n").map((l) => l.trimEnd());
    assert.deepEqual(real, before.rows);
  });
});

rigPeers.test("prediction e2e: never shows nothing before the server's echo", async () => {
  await withRig({ predict: "never" }, async (term) => {
    const { x: x0, y } = term.screen();
    const text = "echo abc";
    const sent = await typeText(term, text);
    await term.waitFor((s) => s.rows[y] === "$ echo abc", 5000);
    const shown = appearance(term, { text, sent, y, x0 });
    for (const [i, ms] of shown.entries()) {
      assert.ok(
        ms >= ROUND_TRIP_MS && ms < ROUND_TRIP_MS + 1000,
        `key ${i} (${JSON.stringify(text[i])}) showed after ${ms} ms`,
      );
    }
    // Not even a cursor move or an underlined blank shows early.
    const early = term.history.filter((s) =>
      s.time > sent[0] && s.time < sent[0] + ROUND_TRIP_MS
    );
    assert.deepEqual(early, [], "the screen changed before any echo");
    assert.doesNotMatch(await coloredRow(term, y), UNDERLINE);
  });
});
