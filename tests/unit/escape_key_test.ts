import assert from "node:assert/strict";
import { EscapeKeyFilter, parseEscapeKey } from "../../client/escape_key.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("escape: default is Ctrl-^ with pass key ^", () => {
  for (const env of [undefined, "ab", "é", "\u0080", "日"]) {
    const e = parseEscapeKey(env);
    assert.equal(e.key, 0x1e, `env ${JSON.stringify(env)}`);
    assert.equal(e.passKey, 0x5e);
    assert.equal(e.passKeyAlt, 0x5e);
    assert.equal(e.afterNewlineOnly, false);
    assert.equal(e.display, "Ctrl-^");
    assert.equal(
      e.help,
      'Commands: Ctrl-Z suspends, "." quits, "^" gives literal Ctrl-^',
    );
  }
});

Deno.test("escape: refused keys (Ctrl-C, Ctrl-D, LF, Ctrl-L, CR) fall back to the default", () => {
  for (const c of [0x03, 0x04, 0x0a, 0x0c, 0x0d]) {
    const e = parseEscapeKey(String.fromCharCode(c));
    assert.equal(e.key, 0x1e);
    assert.equal(e.display, "Ctrl-^");
  }
});

Deno.test("escape: a control character is named Ctrl-X and passed with X or x", () => {
  const b = parseEscapeKey("\x02");
  assert.equal(b.key, 0x02);
  assert.equal(b.passKey, 0x42); // B
  assert.equal(b.passKeyAlt, 0x62); // b
  assert.equal(b.display, "Ctrl-B");
  assert.equal(b.afterNewlineOnly, false);
  assert.equal(
    b.help,
    'Commands: Ctrl-Z suspends, "." quits, "B" gives literal Ctrl-B',
  );
  const bracket = parseEscapeKey("\x1d");
  assert.equal(bracket.passKey, 0x5d); // ]
  assert.equal(bracket.passKeyAlt, 0x5d);
  assert.equal(bracket.display, "Ctrl-]");
  assert.equal(parseEscapeKey("\x01").display, "Ctrl-A");
});

Deno.test("escape: a printable character is quoted, passed by itself, needs CR/LF first", () => {
  const t = parseEscapeKey("~");
  assert.equal(t.key, 0x7e);
  assert.equal(t.passKey, 0x7e);
  assert.equal(t.display, '"~"');
  assert.equal(t.afterNewlineOnly, true);
  assert.equal(
    t.help,
    'Commands: Ctrl-Z suspends, "." quits, "~" gives literal "~"',
  );
  const q = parseEscapeKey("Q");
  assert.equal(q.passKey, 0x51);
  assert.equal(q.passKeyAlt, 0x71); // an upper-case pass key also accepts lower case
  assert.equal(q.display, '"Q"');
  assert.equal(parseEscapeKey("\x7f").afterNewlineOnly, true); // DEL counts as not < 32
});

Deno.test("escape: empty MOSH_ESCAPE_KEY disables escapes", () => {
  const e = parseEscapeKey("");
  assert.equal(e.key, null);
  assert.equal(e.display, "");
  const f = new EscapeKeyFilter(e);
  const r = f.feed(bytes(0x1e, 0x2e, 0x61));
  assert.deepEqual(r.send, bytes(0x1e, 0x2e, 0x61));
  assert.equal(r.quit, false);
  assert.equal(r.helpShown, false);
});

Deno.test("escape: plain input passes through unchanged", () => {
  const f = new EscapeKeyFilter(parseEscapeKey(undefined));
  const r = f.feed(enc("ls -l\r"));
  assert.deepEqual(r.send, enc("ls -l\r"));
  assert.deepEqual(
    [r.quit, r.suspend, r.helpShown, r.helpCleared],
    [false, false, false, false],
  );
  assert.deepEqual(f.feed(new Uint8Array(0)).send, new Uint8Array(0));
});

Deno.test("escape: Ctrl-^ . quits and drops the rest of the chunk", () => {
  const f = new EscapeKeyFilter(parseEscapeKey(undefined));
  const r = f.feed(bytes(0x61, 0x1e, 0x2e, 0x62));
  assert.deepEqual(r.send, bytes(0x61));
  assert.equal(r.quit, true);
  assert.equal(r.helpShown, false);
  assert.equal(f.pending, false);
});

Deno.test("escape: Ctrl-^ Ctrl-Z suspends, later bytes are still sent", () => {
  const f = new EscapeKeyFilter(parseEscapeKey(undefined));
  const r = f.feed(bytes(0x1e, 0x1a, 0x78));
  assert.equal(r.suspend, true);
  assert.equal(r.quit, false);
  assert.deepEqual(r.send, bytes(0x78));
  assert.equal(r.helpCleared, true);
});

Deno.test("escape: the pass key sends the escape character alone, other bytes send both", () => {
  const f = new EscapeKeyFilter(parseEscapeKey(undefined));
  assert.deepEqual(f.feed(bytes(0x1e, 0x5e)).send, bytes(0x1e));
  assert.deepEqual(f.feed(bytes(0x1e, 0x61)).send, bytes(0x1e, 0x61));
  assert.deepEqual(f.feed(bytes(0x1e, 0x1e)).send, bytes(0x1e, 0x1e));
  // lower case is accepted for an upper-case pass key (Ctrl-B: B or b)
  const g = new EscapeKeyFilter(parseEscapeKey("\x02"));
  assert.deepEqual(g.feed(enc("\x02b\x02B\x02c")).send, enc("\x02\x02\x02c"));
  // but not the other way round for a non-letter: "^" only
  assert.deepEqual(f.feed(bytes(0x1e, 0x7e)).send, bytes(0x1e, 0x7e));
});

Deno.test("escape: split across feed() calls, help shown then cleared", () => {
  const f = new EscapeKeyFilter(parseEscapeKey(undefined));
  let r = f.feed(bytes(0x61, 0x1e));
  assert.deepEqual(r.send, bytes(0x61));
  assert.equal(r.helpShown, true);
  assert.equal(r.helpCleared, false);
  assert.equal(f.pending, true);
  assert.equal(
    f.helpText,
    'Commands: Ctrl-Z suspends, "." quits, "^" gives literal Ctrl-^',
  );
  r = f.feed(new Uint8Array(0)); // still waiting: nothing new to report
  assert.equal(r.helpShown, false);
  assert.equal(r.helpCleared, false);
  r = f.feed(bytes(0x2e));
  assert.equal(r.quit, true);
  assert.deepEqual(r.send, new Uint8Array(0));
  assert.equal(r.helpCleared, true);

  const g = new EscapeKeyFilter(parseEscapeKey(undefined));
  g.feed(bytes(0x1e));
  r = g.feed(bytes(0x78, 0x79));
  assert.deepEqual(r.send, bytes(0x1e, 0x78, 0x79));
  assert.equal(r.helpCleared, true);
  assert.equal(r.helpShown, false);
  // decided then a new escape in the same chunk: still waiting, help shown
  r = g.feed(bytes(0x1e, 0x78, 0x1e));
  assert.deepEqual(r.send, bytes(0x1e, 0x78));
  assert.equal(r.helpShown, true);
  assert.equal(r.helpCleared, false);
  r = g.feed(bytes(0x1a));
  assert.equal(r.suspend, true);
  assert.equal(r.helpCleared, true);
});

Deno.test("escape: a printable escape only counts right after CR or LF", () => {
  const f = new EscapeKeyFilter(parseEscapeKey("~"));
  // at the very start nothing was typed yet: not an escape (mosh starts with lf_entered false)
  assert.deepEqual(f.feed(enc("~.")).send, enc("~."));
  assert.deepEqual(f.feed(enc("a~.")).send, enc("a~."));
  let r = f.feed(enc("\r~~"));
  assert.deepEqual(r.send, enc("\r~")); // pass key
  r = f.feed(enc("\n~x"));
  assert.deepEqual(r.send, enc("\n~x"));
  // split: the CR in one chunk, the escape in the next, the command in a third
  assert.deepEqual(f.feed(enc("ls\r")).send, enc("ls\r"));
  r = f.feed(enc("~"));
  assert.equal(r.helpShown, true);
  assert.deepEqual(r.send, new Uint8Array(0));
  r = f.feed(enc("."));
  assert.equal(r.quit, true);
  // after an escape sequence we are no longer "after a newline"
  const g = new EscapeKeyFilter(parseEscapeKey("~"));
  r = g.feed(enc("\r~a~."));
  assert.deepEqual(r.send, enc("\r~a~."));
  assert.equal(r.quit, false);
  // a CR as the byte after the escape is sent with it but does not arm the next escape
  r = g.feed(enc("\r~\r~."));
  assert.deepEqual(r.send, enc("\r~\r~."));
  assert.equal(r.quit, false);
});

Deno.test("escape: a control escape counts anywhere in the line", () => {
  const f = new EscapeKeyFilter(parseEscapeKey("\x02"));
  const r = f.feed(enc("abc\x02."));
  assert.deepEqual(r.send, enc("abc"));
  assert.equal(r.quit, true);
});
